# incidentbot: the Slack app's HTTP service. Brokers and the database are external;
# configure them with INCIDENTBOT_* variables (see README.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY commands ./commands
COPY runbooks ./runbooks
RUN pip install . && useradd --system --uid 10001 --home /var/lib/incidentbot --create-home incidentbot

USER incidentbot
WORKDIR /var/lib/incidentbot
ENV INCIDENTBOT_HTTP__HOST=0.0.0.0 \
    INCIDENTBOT_HTTP__PORT=3000 \
    INCIDENTBOT_DATABASE_URL=sqlite:////var/lib/incidentbot/incidentbot.db
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4).status != 200)"
CMD ["incidentbot", "serve"]
