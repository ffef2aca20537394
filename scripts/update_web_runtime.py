"""Replace the onnxruntime-web files that web exports ship (cnnstudio/core/export/web_files/ort/).

    python scripts/update_web_runtime.py 1.31.1

Runs `npm pack onnxruntime-web@VERSION` (npm checks the tarball against the registry's sha512
integrity), copies the three files the page loads and writes RUNTIME.json (version, the tarball's
integrity, each file's sha256), which `cnnstudio export --format web` checks before copying them. Only
the single-threaded-capable SIMD build is kept: ort.wasm.min.js (the WebAssembly-only bundle, no WebGL
or WebGPU) and ort-wasm-simd-threaded.{mjs,wasm}; the JSEP, JSPI and asyncify variants are not needed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "cnnstudio" / "core" / "export" / "web_files" / "ort"
FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
LICENSE = """onnxruntime-web {version} (https://www.npmjs.com/package/onnxruntime-web), from
https://github.com/microsoft/onnxruntime. Its package.json declares the MIT License:

MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def main(version: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["npm", "pack", f"onnxruntime-web@{version}", "--json"], cwd=tmp, check=True,
                             capture_output=True, text=True).stdout
        info = json.loads(out)[0]
        with tarfile.open(Path(tmp) / info["filename"]) as tar:
            for name in FILES:
                member = tar.getmember(f"package/dist/{name}")
                source = tar.extractfile(member)
                assert source is not None
                with open(TARGET / name, "wb") as f:
                    shutil.copyfileobj(source, f)
    digests = {name: hashlib.sha256((TARGET / name).read_bytes()).hexdigest() for name in FILES}
    manifest = {"package": "onnxruntime-web", "version": version, "integrity": info["integrity"], "files": digests}
    (TARGET / "RUNTIME.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    (TARGET / "LICENSE").write_text(LICENSE.format(version=version), encoding="utf-8")
    print(f"onnxruntime-web {version}: {', '.join(FILES)} in {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "1.31.1"))
