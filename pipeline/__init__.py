"""spatialmix data engine: fetching, image normalization, records and sources. No Dagster here."""
