# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Files the operate jobs write on the controller (benchmark records, accuracy baselines).

Private to this collection (not an API for other collections; it may change
without notice).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os


def write_json(path, data):
    """Write ``data`` as indented, sorted JSON through a temporary file: a reader never sees half a file."""
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)
