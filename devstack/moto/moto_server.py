"""moto_server, as pinned in the Makefile, with trainq's fixes for emulator hot spots.

Run by devstack and the tests under the project's `.venv` python instead of `moto_server`
(docs/decisions.md, "moto's SQS receive is quadratic"). Each patch checks that the code it
replaces is the one it was written for, so a moto upgrade fails loudly instead of silently.
"""

import inspect
import sys

from moto.core.utils import unix_time
from moto.server import main
from moto.sqs import models as sqs_models


def _retained(self, queue_name, message):
    """Whether `message` is within its queue's retention period.

    moto 5.2.5 answers this by computing every attribute of the queue (three passes over all
    its messages) once per received message, which makes a receive from a queue of n messages
    cost O(n) per message: a chaos run of 1,000 requests spent minutes in it.
    """
    queue = self.get_queue(queue_name)
    return int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time()


_original = sqs_models.SQSBackend.is_message_valid_based_on_retention_period
if 'get_queue_attributes(' not in inspect.getsource(_original):
    sys.exit("trainq's moto patch no longer matches moto's code: review devstack/moto/moto_server.py")
sqs_models.SQSBackend.is_message_valid_based_on_retention_period = _retained

if __name__ == "__main__":
    sys.exit(main())
