"""Data layer: reading images (PNG/JPEG/TIFF/DICOM), FracAtlas labels and boxes, preprocessing, augmentation."""
