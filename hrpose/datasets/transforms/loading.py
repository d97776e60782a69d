"""Image loading that says which image is broken and how, instead of failing deep inside."""
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log

from hrpose.registry import TRANSFORMS


class BadImageError(ValueError):
    """An image file is empty, truncated or cannot be decoded."""


def find_truncation(data: bytes) -> Optional[str]:
    """Why an encoded JPEG or PNG is cut short, or None when it looks whole.

    Depending on its build, OpenCV either refuses a truncated JPEG without saying why or
    decodes it with grey rows in place of the missing data (libjpeg's default), which would
    silently train on a corrupted image; checking the file itself gives one clear answer. A
    whole JPEG has its end-of-image marker
    (FF D9) after its last start-of-scan marker (FF DA; progressive files have several, and an
    EXIF thumbnail brings an earlier pair); a whole PNG ends with an IEND chunk.
    """
    if data[:2] == b'\xff\xd8':
        if data.rfind(b'\xff\xd9') < data.rfind(b'\xff\xda'):
            return 'the JPEG data is truncated (no end-of-image marker after the last scan)'
    elif data[:8] == b'\x89PNG\r\n\x1a\n':
        if data.rfind(b'IEND') < 0:
            return 'the PNG data is truncated (no IEND chunk)'
    return None


@TRANSFORMS.register_module()
class LoadCheckedImage(MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` with checks that name the image and the problem.

    hrpose's configs name it (``type='LoadCheckedImage'``); ``type='LoadImageFromFile'``
    remains mmcv's own. A missing, empty (0 bytes), truncated or undecodable
    file either raises an error naming the file and its image id (``on_bad_image='error'``,
    the default) or is skipped with a logged warning (``on_bad_image='skip'``: the transform
    returns None and mmengine's dataset draws another image; only for training, since test
    datasets must not lose images). A decoded size that differs from the annotation's
    ``width``/``height`` is logged: the boxes would not match the pixels (often an EXIF-rotated
    JPEG; ``color_type='color_ignore_orientation'`` keeps the stored orientation).

    Args:
        on_bad_image: 'error' or 'skip'.
        **kwargs: mmcv ``LoadImageFromFile`` arguments.
    """

    def __init__(self, *args, on_bad_image: str = 'error', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if on_bad_image not in ('error', 'skip'):
            raise ValueError(f"LoadCheckedImage: on_bad_image must be 'error' or 'skip', "
                             f'got {on_bad_image!r}')
        self.on_bad_image = on_bad_image

    def _read(self, filename: str) -> bytes:
        if self.file_client_args is not None:
            client = fileio.FileClient.infer_client(self.file_client_args, filename)
            return client.get(filename)
        return fileio.get(filename, backend_args=self.backend_args)

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        where = (f'image id {results["img_id"]} ({filename})' if 'img_id' in results else filename)
        problem, error_type = None, BadImageError
        try:
            data = self._read(filename)
        except FileNotFoundError:
            data, problem, error_type = None, 'no such file', FileNotFoundError
        if data is not None:
            img = None
            if len(data) == 0:
                problem = 'the file is empty (0 bytes)'
            else:
                problem = find_truncation(data)
            if problem is None:
                img = mmcv.imfrombytes(data, flag=self.color_type, backend=self.imdecode_backend)
                if img is None or img.size == 0:
                    problem = f'{len(data)} bytes that do not decode as an image'
        if problem is not None:
            message = f'{where}: {problem}'
            if self.on_bad_image == 'skip':
                print_log(f'{message}; skipped (on_bad_image=skip)', logger='current', level=30)
                return None
            raise error_type(f'{message}. Fix or remove the image, or set '
                             "on_bad_image='skip' in LoadCheckedImage to train without it")

        expected = (results.get('height'), results.get('width'))
        if None not in expected and tuple(img.shape[:2]) != tuple(expected):
            print_log(
                f'{where}: decoded as {img.shape[1]}x{img.shape[0]} (w x h) but the '
                f'annotation says {expected[1]}x{expected[0]}; boxes and keypoints will '
                'not line up with the pixels',
                logger='current',
                level=30)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', on_bad_image={self.on_bad_image!r})'
