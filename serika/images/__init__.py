"""Image generation: request validation, the generation path, stored images, async jobs."""
