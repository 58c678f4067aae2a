"""The emulator server under concurrent clients, as Terraform drives it (ten and more requests at once)."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config

pytestmark = pytest.mark.integration


def test_concurrent_writes_and_reads_of_one_service_never_fail(emulator):
    """moto's backends are plain dicts: a role created while another request iterates the roles made
    the emulator answer 500 ("dictionary changed size during iteration") to GetRole, CreateRole and
    ListAttachedRolePolicies under Terraform's concurrency. Every request must get its real answer."""
    env = emulator.client_env()
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=env["AWS_DEFAULT_REGION"])
    config = Config(retries={"max_attempts": 1}, max_pool_connections=48)
    iam = session.client("iam", endpoint_url=emulator.endpoint, config=config)
    trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'

    def create_then_read(number: int) -> str:
        name = f"mlp-concurrency-{number}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
        for _ in range(3):
            iam.get_role(RoleName=name)
            iam.list_attached_role_policies(RoleName=name)
        return name

    with ThreadPoolExecutor(max_workers=48) as pool:  # an error in any request fails the map
        created = list(pool.map(create_then_read, range(400)))
    assert len(set(created)) == 400
    for name in created:
        iam.delete_role(RoleName=name)


def test_a_long_poll_receives_a_message_sent_while_it_waits(emulator, aws):
    """Requests enter moto one at a time; an SQS long poll gives way while it waits, so the message
    sent meanwhile reaches it (as on AWS) instead of the poll holding every other request back."""
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="mlp-long-poll")["QueueUrl"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        polled = pool.submit(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=10, MaxNumberOfMessages=1)
        time.sleep(1)  # let the poll reach the emulator and start waiting
        sqs.send_message(QueueUrl=url, MessageBody="hello")  # would wait 10 s behind the poll if it held the lock
        messages = polled.result(timeout=30).get("Messages", [])
    assert [m["Body"] for m in messages] == ["hello"]
    sqs.delete_queue(QueueUrl=url)


def _raw_request(endpoint: str, body: bytes, headers: dict[str, str]) -> tuple[socket.socket, bytes]:
    """A connected socket and the bytes of one POST / (the shape of an AWS query or JSON call)."""
    host, port = endpoint.removeprefix("http://").split(":")
    head = f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    return socket.create_connection((host, int(port)), timeout=30), head.encode() + body


def _read_answer(sock: socket.socket) -> tuple[str, bytes]:
    """Status line and body of one answer, read exactly as its Content-Length says (what an SDK does)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection ended inside the headers: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in lines[1:]}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"connection ended after {len(body)} of {length} body bytes ({lines[0]})"
        body += chunk
    return lines[0], body[:length]


EVENTS = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "AWSEvents.PutTargets",
    "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261128/us-east-1/events/aws4_request, SignedHeaders=host, Signature=0",
}
IAM = {
    "Content-Type": "application/x-www-form-urlencoded",
    "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261128/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
}


def _put_targets(rule: str, target: str) -> bytes:
    return json.dumps({"Rule": rule, "Targets": [{"Id": target, "Arn": "arn:aws:sqs:us-east-1:123456789012:q"}]}).encode()


def test_bytes_sent_after_an_answer_get_no_reset(emulator, aws):
    """A server that closes at once answers bytes arriving later with a TCP reset, and a reset can destroy
    an answer before the client has read it (RFC 9112, 9.6): the SDK's "200 it could not read". The
    emulator closes in stages, so a client still sending (here: a second request, as a client that missed
    `Connection: close` would) gets no reset, only the end of the stream."""
    aws("events").put_rule(Name="mlp-transport-rule", ScheduleExpression="rate(1 hour)")
    sock, request = _raw_request(emulator.endpoint, _put_targets("mlp-transport-rule", "late"), EVENTS)
    with sock:
        sock.sendall(request)
        status, body = _read_answer(sock)
        assert status == "HTTP/1.1 200 OK" and json.loads(body)["FailedEntryCount"] == 0
        time.sleep(0.5)  # well after werkzeug's own 10 ms wait for more bytes
        sock.sendall(request)  # a reset answers this at once when the server has closed
        time.sleep(0.5)
        sock.sendall(request)  # ... and this write then fails (EPIPE / ECONNRESET)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(65536) == b""  # a clean end of stream, not ConnectionResetError
        port = sock.getsockname()[1]
    # The server's log names the connection by the client's port, as the SDK's errors do.
    expected = f"client port {port} sent {3 * len(request) - len(request)} bytes after its answer"
    for _ in range(50):
        if expected in emulator._log.read_text():
            break
        time.sleep(0.1)
    assert expected in emulator._log.read_text()


def test_a_client_slow_to_send_its_body_holds_up_no_one(emulator, aws):
    """Request bodies are read before a request takes the lock into moto: one client pausing mid-body
    (a busy machine's Terraform does) leaves the others answered meanwhile."""
    aws("events").put_rule(Name="mlp-slow-body-rule", ScheduleExpression="rate(1 hour)")
    slow, request = _raw_request(emulator.endpoint, _put_targets("mlp-slow-body-rule", "slow"), EVENTS)
    with slow:
        split = request.index(b"\r\n\r\n") + 4 + 10
        slow.sendall(request[:split])  # headers and the first bytes of the body
        time.sleep(0.2)  # let the server start on it
        other, second = _raw_request(emulator.endpoint, _put_targets("mlp-slow-body-rule", "other"), EVENTS)
        with other:
            other.settimeout(20)  # held behind the slow body, this would time out instead of answering
            other.sendall(second)
            assert _read_answer(other)[0] == "HTTP/1.1 200 OK"
        slow.sendall(request[split:])
        status, body = _read_answer(slow)
    assert status == "HTTP/1.1 200 OK" and json.loads(body)["FailedEntryCount"] == 0
    targets = aws("events").list_targets_by_rule(Rule="mlp-slow-body-rule")["Targets"]
    assert {target["Id"] for target in targets} == {"slow", "other"}


def test_concurrent_answers_arrive_whole(emulator, aws):
    """Many clients at once, each writing its request in two parts as Terraform's can: every answer is a
    200 whose Content-Length bytes all arrive and parse (PutRolePolicy and PutTargets shapes, the calls
    that failed in CI with a 200 the SDK could not read)."""
    iam, events = aws("iam"), aws("events")
    trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
    for number in range(8):
        iam.create_role(RoleName=f"mlp-transport-{number}", AssumeRolePolicyDocument=trust)
        events.put_rule(Name=f"mlp-transport-{number}", ScheduleExpression="rate(1 hour)")
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": [f"s3:GetObject{n}" for n in range(150)], "Resource": "*"}],
        }
    )

    def call(number: int) -> str:
        if number % 2:
            body, headers, expected = _put_targets(f"mlp-transport-{number % 8}", f"t{number}"), EVENTS, b'"FailedEntryCount": 0'
        else:
            body = urllib.parse.urlencode(
                {
                    "Action": "PutRolePolicy",
                    "Version": "2010-05-08",
                    "RoleName": f"mlp-transport-{number % 8}",
                    "PolicyName": f"p{number}",
                    "PolicyDocument": policy,
                }
            ).encode()
            headers, expected = IAM, b"<PutRolePolicyResponse"
        sock, request = _raw_request(emulator.endpoint, body, headers)
        with sock:
            cut = request.index(b"\r\n\r\n") + 4 + len(body) // 2
            sock.sendall(request[:cut])
            sock.sendall(request[cut:])
            status, answer = _read_answer(sock)
        assert status == "HTTP/1.1 200 OK" and expected in answer, (status, answer[:200])
        return status

    with ThreadPoolExecutor(max_workers=32) as pool:
        assert len(list(pool.map(call, range(400)))) == 400
    for number in range(8):
        for name in iam.list_role_policies(RoleName=f"mlp-transport-{number}")["PolicyNames"]:
            iam.delete_role_policy(RoleName=f"mlp-transport-{number}", PolicyName=name)
        iam.delete_role(RoleName=f"mlp-transport-{number}")


def test_read_body_hands_the_app_the_whole_body_whatever_the_framing():
    """Read before the lock: exactly Content-Length bytes (the next bytes on the socket are not the
    request's), to the end when chunked, nothing when the length is absent or not a number."""
    from emulator.serialized import read_body

    cases = [
        ({"CONTENT_LENGTH": "5"}, b"hello, and more", b"hello"),
        ({"wsgi.input_terminated": True}, b"all of it", b"all of it"),
        ({"CONTENT_LENGTH": ""}, b"ignored", b""),
        ({"CONTENT_LENGTH": "five"}, b"ignored", b""),
        ({"CONTENT_LENGTH": "9"}, b"short", b"short"),
    ]  # the client closed early: what came
    for environ, sent, expected in cases:
        environ = {**environ, "wsgi.input": io.BytesIO(sent)}
        read_body(environ)
        assert environ["wsgi.input"].read() == expected, environ


def test_exclusive_keeps_requests_out_of_moto_while_held():
    """Work outside a request (a training job ending) changes moto's state under the request lock: no
    request runs in moto meanwhile, and requests go on once it is released."""
    from emulator.serialized import exclusive, serialized

    entered = threading.Event()

    def app(environ, start_response):
        entered.set()
        start_response("200 OK", [])
        return [b"done"]

    call = serialized(app)
    environ = {"wsgi.input": io.BytesIO(b""), "CONTENT_LENGTH": "0"}
    with ThreadPoolExecutor(max_workers=1) as pool:
        with exclusive():
            answer = pool.submit(call, environ, lambda status, headers: None)
            assert not entered.wait(0.5)  # held out while the lock is held
        assert answer.result(timeout=10) == [b"done"] and entered.is_set()
