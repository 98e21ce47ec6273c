"""Procedural scenes: descriptions as a pure function of the seed (spec), built in Blender (build), textures by quilting, and a user's own scene varied."""
