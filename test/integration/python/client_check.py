"""Proves the Arbor API from another language: stubs generated from proto/ by grpc_tools,
then create / read / update / delete / children / multi / watch / sessions against a live
cluster. Prints one line per check; exits non-zero on the first failure."""
import queue
import sys
import threading
import time

import grpc

sys.path.insert(0, sys.argv[1])  # the directory with the generated arbor/v1/*_pb2*.py
from arbor.v1 import arbor_pb2 as pb  # noqa: E402
from arbor.v1 import arbor_pb2_grpc as rpc  # noqa: E402

endpoints = sys.argv[2].split(",")
stubs = [rpc.ArborStub(grpc.insecure_channel(e)) for e in endpoints]
a, b = stubs[0], stubs[-1]
T = 10


def check(name, cond):
    if not cond:
        print("FAIL", name, flush=True)
        sys.exit(1)
    print("ok", name, flush=True)


r = a.Create(pb.CreateRequest(path="/py", data=b"from python"), timeout=T)
check("create returns the path", r.path == "/py")
g = b.Get(pb.GetRequest(path="/py"), timeout=T)
check("get on another member sees the data", g.data == b"from python" and g.stat.version == 0)
s = b.Set(pb.SetRequest(path="/py", data=b"v1", expected_version=0), timeout=T)
check("set bumps the version", s.stat.version == 1)
try:
    a.Set(pb.SetRequest(path="/py", data=b"v2", expected_version=0), timeout=T)
    check("stale version refused", False)
except grpc.RpcError as e:
    check("stale version is FAILED_PRECONDITION", e.code() == grpc.StatusCode.FAILED_PRECONDITION)
try:
    a.Create(pb.CreateRequest(path="no-slash"), timeout=T)
    check("bad path refused", False)
except grpc.RpcError as e:
    check("bad path is INVALID_ARGUMENT with a message", e.code() == grpc.StatusCode.INVALID_ARGUMENT and "/" in e.details())

seq = [
    a.Create(pb.CreateRequest(path="/py/n-", mode=pb.PERSISTENT_SEQUENTIAL), timeout=T).path for _ in range(3)
]
check("sequential names", seq == ["/py/n-%010d" % i for i in range(3)])
kids = b.GetChildren(pb.GetChildrenRequest(path="/py"), timeout=T)
check("children sorted", list(kids.children) == ["n-0000000000", "n-0000000001", "n-0000000002"])

m = a.Multi(
    pb.MultiRequest(
        ops=[
            pb.Op(create=pb.CreateRequest(path="/py/m1")),
            pb.Op(check=pb.CheckOp(path="/py", expected_version=1)),
        ]
    ),
    timeout=T,
)
check("multi applies", len(m.results) == 2 and m.results[0].create.path == "/py/m1")

events = []
got_created = threading.Event()


def watch():
    for resp in b.Watch(pb.WatchRequest(path="/py", scope=pb.SUBTREE), timeout=30):
        if resp.created:
            got_created.set()
        for ev in resp.events:
            events.append((ev.type, ev.path, ev.data))
        if len(events) >= 2:
            return


t = threading.Thread(target=watch)
t.start()
got_created.wait(10)
a.Set(pb.SetRequest(path="/py", data=b"watched", expected_version=-1), timeout=T)
a.Delete(pb.DeleteRequest(path="/py/m1", expected_version=-1), timeout=T)
t.join(30)
check("watch on another member sees the update and the delete", events[:2] == [(pb.UPDATED, "/py", b"watched"), (pb.DELETED, "/py/m1", b"")])

# WatchMany with batch: three watches on one stream; one write reaches all three in one message.
controls = queue.Queue()
controls.put(pb.WatchControl(create=pb.WatchCreateRequest(watch_id=1, path="/py", batch=True)))
controls.put(pb.WatchControl(create=pb.WatchCreateRequest(watch_id=2, path="/py", batch=True)))
controls.put(pb.WatchControl(create=pb.WatchCreateRequest(watch_id=3, path="/py", scope=pb.SUBTREE, batch=True)))
many_created = set()
many_events = {}
packed_sizes = []
many_ready = threading.Event()


def requests():
    while True:
        c = controls.get()
        if c is None:
            return
        yield c


def watch_many():
    for msg in b.WatchMany(requests(), timeout=30):
        entries = list(msg.batch) or [msg]
        for r in entries:
            if r.created:
                many_created.add(r.watch_id)
            for ev in r.events:
                many_events.setdefault(r.watch_id, []).append((ev.type, ev.path, ev.data))
        if any(r.events for r in entries):
            packed_sizes.append(len(msg.batch))
        if len(many_created) == 3:
            many_ready.set()
        if all(len(many_events.get(w, [])) >= 1 for w in (1, 2, 3)):
            return


t = threading.Thread(target=watch_many)
t.start()
check("WatchMany creates three watches", many_ready.wait(10))
a.Set(pb.SetRequest(path="/py", data=b"batched", expected_version=-1), timeout=T)
t.join(30)
controls.put(None)
check(
    "WatchMany delivers one write to every watch",
    all(many_events.get(w) == [(pb.UPDATED, "/py", b"batched")] for w in (1, 2, 3)),
)
check("the three responses came packed in one message", packed_sizes == [3])

sess = a.OpenSession(pb.OpenSessionRequest(timeout_ms=5000), timeout=T)
e = b.Create(pb.CreateRequest(path="/py/eph", mode=pb.EPHEMERAL, session_id=sess.session_id), timeout=T)
check("ephemeral owned by the session", e.stat.ephemeral_owner == sess.session_id)
a.CloseSession(pb.CloseSessionRequest(session_id=sess.session_id), timeout=T)
check("closing the session deletes its ephemerals", not b.Exists(pb.ExistsRequest(path="/py/eph"), timeout=T).exists)

# The pipelined session stream; the member announces that it takes packed requests.
stream_in = queue.Queue()


def stream_requests():
    while True:
        req = stream_in.get()
        if req is None:
            return
        yield req


answers = a.Stream(stream_requests(), timeout=T)
stream_in.put(pb.ClientRequest(id=1, create=pb.CreateRequest(path="/py/st", data=b"s0")))
check("Stream announces packed requests", dict(answers.initial_metadata()).get("arbor-batch") == "1")
stream_in.put(
    pb.ClientRequest(
        batch=[
            pb.ClientRequest(id=2, set=pb.SetRequest(path="/py/st", data=b"s1", expected_version=0)),
            pb.ClientRequest(id=3, set=pb.SetRequest(path="/py/st", data=b"s2", expected_version=1)),
            pb.ClientRequest(id=4, get=pb.GetRequest(path="/py/st")),
            pb.ClientRequest(id=5, get=pb.GetRequest(path="/py/none")),
        ]
    )
)
got = {}
for msg in answers:
    for ans in list(msg.batch) or [msg]:
        got[ans.id] = ans
    if len(got) == 5:
        break
stream_in.put(None)
answers.cancel()
check("a lone request is answered on the stream", got[1].create.path == "/py/st")
check("packed requests apply in the order packed", got[2].set.stat.version == 1 and got[3].set.stat.version == 2)
check("a packed read sees the packed writes before it", got[4].get.data == b"s2")
check(
    "a packed request's error is answered under its id",
    got[5].WhichOneof("result") == "error" and got[5].error.code == grpc.StatusCode.NOT_FOUND.value[0],
)

b.Delete(pb.DeleteRequest(path="/py", expected_version=-1, recursive=True), timeout=T)
check("recursive delete", not a.Exists(pb.ExistsRequest(path="/py"), timeout=T).exists)
print("all python checks passed", flush=True)
