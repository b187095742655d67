"""The shared library of the data scripts: DSNs, PostgreSQL tools, fingerprints, reports,
throwaway servers, and the offline runner of the Pulumi program."""
