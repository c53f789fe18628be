# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim
WORKDIR /srv/rectify
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV RECTIFY_ENV=production RECTIFY_INSTANCE_DIR=/var/lib/rectify
EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "-w", "4", "-b", "0.0.0.0:8000", "app:create_app()"]
