"""Blender's render machinery: the Cycles render-pass hook, helper scenes for other engines, the compositor node groups."""
