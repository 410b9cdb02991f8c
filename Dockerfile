# syntax=docker/dockerfile:1
# One image for every reos service: the API (`reos up`) and, in mock mode,
# the vendor stand-ins it runs in-process or standalone.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/reos ./cmd/reos && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/reos /usr/local/bin/reos
COPY --from=build --chown=nonroot:nonroot /out/data /data
ENV REOS_ADDR=0.0.0.0:8000 REOS_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
USER nonroot
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["/usr/local/bin/reos", "probe", "http://127.0.0.1:8000/healthz"]
ENTRYPOINT ["/usr/local/bin/reos"]
CMD ["up"]
