"""moto's server, with DynamoDB requests taken one at a time.

DynamoDB runs each request atomically: a TransactWriteItems checks its conditions
and writes all its items as one step, serialised with every other write to those
items. moto's threaded server runs concurrent requests interleaved (its
transactions copy the table for rollback but take no lock), so two racing
transactions could both pass a condition that only one would pass on AWS, and a
test of racing writers (two trackers claiming one alert) would fail now and then
for the emulator's sake. Holding one lock per DynamoDB request restores the
atomicity the store relies on; other services stay concurrent (an SQS long poll
must not hold up the rest).

Usage: python infra/moto_server.py [moto_server's arguments]
"""

import sys
import threading

from moto import server
from moto.dynamodb.responses import DynamoHandler

_LOCK = threading.Lock()
_call_action = DynamoHandler.call_action


def _one_at_a_time(self):
    with _LOCK:
        return _call_action(self)


DynamoHandler.call_action = _one_at_a_time

if __name__ == "__main__":
    server.main(sys.argv[1:])
