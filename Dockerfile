# syntax=docker/dockerfile:1
# The streammesh image: one image for every role (`streammesh control-plane |
# proxy | signaling`, chosen by the Helm chart's args).
#
# Build stage: `npm ci` installs everything and runs the project's install
# steps: the postinstall builds mediasoup's C++ worker (scripts/
# mediasoup-worker.mjs: mediasoup's prebuilt binary where it can be fetched,
# else an offline build against Debian packages, hence python3, make and
# g++ here), then the native addons (scripts/build-native.mjs: batched UDP
# I/O, libsrtp2, shared TCP listening sockets; hence libsrtp2-dev), and
# `prepare` compiles the TypeScript to dist/ and bundles the demo page. The
# build fails if an addon did not build: an image without them would run the
# slow fallbacks (node:dgram, node:crypto) and one L7 thread. Dev
# dependencies are then pruned.
#
# Runtime stage: node on Debian slim, the shared libraries a worker built
# against Debian packages and the SRTP addon link to, and the app with the
# built addons, run as user 10001 on a read-only root filesystem (the chart
# mounts emptyDirs where it writes). test/integration/kubernetes/
# dockerfile.test.ts checks both stages' files without a Docker engine.
#
#   docker build -t streammesh:0.1.0 .

FROM node:20-bookworm AS build
# Not pinned (DL3008): the packages follow the base image's Debian release,
# whose security updates replace exact versions.
# hadolint ignore=DL3008
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ libsrtp2-dev \
  && rm -rf /var/lib/apt/lists/*
# npm 11: the version the project's lockfile and install scripts are made with.
RUN npm install -g npm@11
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY scripts/ scripts/
COPY native/ native/
# `npm ci` runs prepare (tsc and the demo page) too: the sources must be in place.
COPY tsconfig.json tsconfig.build.json ./
COPY bin/ bin/
COPY proto/ proto/
COPY assets/ assets/
COPY src/ src/
COPY rtp-proxy/ rtp-proxy/
COPY signaling/ signaling/
COPY test/ test/
COPY loadtests/ loadtests/
RUN npm ci \
  && test -x node_modules/mediasoup/worker/out/Release/mediasoup-worker \
  && test -f native/udp-batch/build/Release/udp_batch.node \
  && test -f native/srtp/build/Release/srtp.node \
  && test -f native/tcp-listen/build/Release/tcp_listen.node \
  && test -f native/process-group/build/Release/process_group.node \
  && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# What a mediasoup worker built against Debian packages links to (a prebuilt
# worker needs none of them), and jemalloc, the rtp-proxy's allocator (as
# under `streammesh up`: the chart preloads /usr/local/lib/libjemalloc.so.2
# into the proxy, whatever the architecture's library directory).
# hadolint ignore=DL3008
RUN apt-get update \
  && apt-get install -y --no-install-recommends \
    libuv1 libssl3 libsrtp2-1 libusrsctp2 libabsl20220623 libjemalloc2 \
  && rm -rf /var/lib/apt/lists/* \
  && ln -s "$(dpkg -L libjemalloc2 | grep '/libjemalloc.so.2$')" /usr/local/lib/libjemalloc.so.2 \
  && groupadd --system --gid 10001 streammesh \
  && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/streammesh --no-create-home streammesh
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
# The addons, where their loaders look (<app>/native/<name>/build/Release/).
COPY --from=build /app/native/udp-batch/build/Release/udp_batch.node native/udp-batch/build/Release/
COPY --from=build /app/native/srtp/build/Release/srtp.node native/srtp/build/Release/
COPY --from=build /app/native/tcp-listen/build/Release/tcp_listen.node native/tcp-listen/build/Release/
COPY --from=build /app/native/process-group/build/Release/process_group.node native/process-group/build/Release/
# The compiled roles and the demo page; not the compiled tests and benchmarks.
COPY --from=build /app/dist/src/ dist/src/
COPY --from=build /app/dist/rtp-proxy/ dist/rtp-proxy/
COPY --from=build /app/dist/signaling/ dist/signaling/
COPY --from=build /app/dist/demo-page/ dist/demo-page/
COPY --from=build /app/bin/ bin/
COPY --from=build /app/proto/ proto/
COPY --from=build /app/assets/ assets/
ENV NODE_ENV=production \
  XDG_STATE_HOME=/var/lib/streammesh
USER 10001:10001
# Admin, gRPC (control plane); admin, RTSP (proxy); admin, HTTP, cascade (signaling).
EXPOSE 15100 15101 15102 8554 15103 8080 8444
ENTRYPOINT ["node", "/app/bin/streammesh.js"]
CMD ["--help"]
