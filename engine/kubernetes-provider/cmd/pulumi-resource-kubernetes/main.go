// Command pulumi-resource-kubernetes serves the Kubernetes provider plugin.
//
// The upstream main embeds two generated files that its repository does not commit;
// scripts/engine_tools.py writes them here from the module's schema.json and
// terraform-mapping.json (with the version stamped in) before building.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
