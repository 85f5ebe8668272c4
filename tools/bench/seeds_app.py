#!/usr/bin/env python3
"""The seeds' game API, as in the course notes: Flask plus kafka-python.

Every request is logged to Kafka with producer.send() (asynchronous: the seeds
never waited for the broker's ack) and answered at once. Herald's bench runs
it with Flask's builtin threaded server, the `flask run` equivalent:

    KAFKA_BROKERS=127.0.0.1:9092 PORT=5000 /usr/bin/python3 tools/bench/seeds_app.py
"""
import json
import os

from flask import Flask, request
from kafka import KafkaProducer

app = Flask(__name__)
producer = KafkaProducer(
    bootstrap_servers=os.environ.get("KAFKA_BROKERS", "kafka:29092").split(",")
)


def log_to_kafka(topic, event):
    event.update(request.headers)
    producer.send(topic, json.dumps(event).encode())


@app.route("/")
def default_response():
    default_event = {"event_type": "default"}
    log_to_kafka("events", default_event)
    return "This is the default response!\n"


@app.route("/purchase_a_sword")
def purchase_a_sword():
    purchase_sword_event = {"event_type": "purchase_sword"}
    log_to_kafka("events", purchase_sword_event)
    return "Sword Purchased!\n"


@app.route("/purchase_a_knife")
def purchase_a_knife():
    purchase_knife_event = {"event_type": "purchase_knife"}
    log_to_kafka("events", purchase_knife_event)
    return "Knife Purchased!\n"


@app.route("/join_guild")
def join_guild():
    join_guild_event = {"event_type": "join_guild"}
    log_to_kafka("events", join_guild_event)
    return "Guild Joined!\n"


if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "5000")),
        threaded=True,
    )
