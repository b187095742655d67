"""The program under Pulumi's mocks, with the CLI's config rules: the offline render and the fast test tier."""
