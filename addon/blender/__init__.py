"""Headless Blender helpers (bpy, no UI): the pixel bridge, export, scenes, batch entry points, EEVEE set-up, lighting read off a scene, render 1 in N orchestration."""
