from .synthetic import make_synthetic_coco, render_synthetic_image

__all__ = ['make_synthetic_coco', 'render_synthetic_image']
