"""Read-only inspection of Kafka, RabbitMQ and the Schema Registry."""
