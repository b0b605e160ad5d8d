"""An aiosmtpd handler for the notification tests: every accepted message is
written to its own file in a directory (atomically: `.tmp` then renamed to
`.eml`), with the envelope recipients on a first `X-Envelope-To:` line.

Recipients whose local part starts with `reject` get a permanent failure
(550), with `later` a temporary one (451), to exercise both paths.

    PYTHONPATH=tests/support python -m aiosmtpd -n -l 127.0.0.1:PORT \
        -c smtp_sink.FileSink OUTPUT_DIR
"""

import os
import time
import uuid


class FileSink:
    def __init__(self, directory):
        self.directory = directory

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("FileSink needs the output directory")
        return cls(args[0])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 No such user"
        if local.startswith("later"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = "%d-%s" % (time.time_ns(), uuid.uuid4().hex)
        tmp = os.path.join(self.directory, name + ".tmp")
        with open(tmp, "wb") as out:
            out.write(("X-Envelope-To: %s\r\n" % ",".join(envelope.rcpt_tos)).encode())
            out.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.directory, name + ".eml"))
        return "250 Message accepted for delivery"
