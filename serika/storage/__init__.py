"""Blob storage for generated images and avatars: files in the data dir, or an S3 bucket."""
