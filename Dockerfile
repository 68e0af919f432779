# The operator image: `tuneop operator`. Build from the repository root:
#   docker build -t tuneop/operator:0.1.0 .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY operator ./operator
# The operator's extras: operator (kopf, the Kubernetes client, Prometheus), mlflow
# (spec.tracking.mlflow: MLflow's client, without its server) and qmc
# (scipy, for optimizer.type qmc); no report (plotly): the operator writes no report.
# --build-arg EXTRAS=operator,qmc,gp adds PyTorch for optimizer.type gp (docs/install.md).
ARG EXTRAS="operator,mlflow,qmc"
# The versions the tests ran against (pyproject.toml declares ranges).
RUN pip install --no-cache-dir -c constraints.txt --prefix=/install ".[${EXTRAS}]"

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /install /usr/local
# A numeric user, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
RUN groupadd --gid 10001 tuneop && useradd --uid 10001 --gid 10001 --no-create-home tuneop
USER 10001:10001
WORKDIR /tmp
EXPOSE 8081 9090
ENTRYPOINT ["tuneop", "operator"]
CMD ["--all-namespaces"]
