#!/usr/bin/env bash
# Build learn2learn 0.2.0 for Python 3.11: its sdist ships C files generated before
# Python 3.11 (they include the removed longintrepr.h), so regenerate them with Cython < 3.
set -euo pipefail
work=$(mktemp -d)
pip download --no-deps --no-binary :all: -d "$work" learn2learn==0.2.0
tar xzf "$work"/learn2learn-0.2.0.tar.gz -C "$work"
cd "$work"/learn2learn-0.2.0
cython -3 learn2learn/data/*.pyx
pip install --no-build-isolation --no-deps .
