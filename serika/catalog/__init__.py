"""The model catalog: shipped default data plus operator overrides."""
