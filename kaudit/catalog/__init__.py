"""What a scan evaluates: rule packs and profiles, loaded from YAML and
validated against the JSON Schemas in kaudit/schema."""
