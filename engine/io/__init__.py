"""Image files in and out: every alpha form, bit depth, ICC profile and EXIF."""
