# syntax=docker/dockerfile:1
# Build (the version stamped; .dockerignore keeps .git out of the context):
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) -t helpdesk-kpi-aggregator .
# Run:   docker run -p 9478:9478 -v aggregator-data:/data helpdesk-kpi-aggregator -nats-url nats://nats:4222

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The same command as the README's "Bare binary" (a test holds them equal).
ARG VERSION=devel
ARG REVISION=
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" -o /out/aggregator ./cmd/aggregator
# An empty /data owned by the runtime user: a volume mounted there starts
# out writable by it.
RUN mkdir -p /out/data

# Static binary on a minimal base, as a non-root user. No HEALTHCHECK:
# orchestrators probe /healthz and /readyz.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/aggregator /usr/local/bin/aggregator
COPY --from=build --chown=65532:65532 /out/data /data
ENV AGGREGATOR_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 9478
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/aggregator"]
