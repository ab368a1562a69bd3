"""The console's live events reach an agent whichever process their browser is connected to, whichever process
took the customer's message (PostgreSQL: LISTEN/NOTIFY between the processes; SQLite: each feed's poll)."""

from __future__ import annotations

from tests.cluster.conftest import Cluster
from tests.staff.test_console_api import EventStream
from tests.staff.test_conversations_api import go_online


def test_an_agent_connected_to_either_process_sees_messages_taken_by_either(cluster: Cluster) -> None:
    # Given an agent with the console open twice: one stream served by process A, one by process B
    cluster.add_agent("live")
    sessions = [cluster.signed_in(process, "live") for process in cluster.processes]
    go_online(sessions[0])
    streams = [EventStream(http) for http in sessions]
    # When a customer asks for a person through A, then writes once through each process
    cluster.asks_for_a_person("o_live_both", via=cluster.a)
    assigned = [stream.wait_for(lambda e: e["event"] == "handoff" and e["data"]["kind"] == "assigned")
                for stream in streams]
    handoff_id = assigned[0]["data"]["handoff_id"]
    said = {"我想改一下收货地址": cluster.a, "改成公司的地址": cluster.b}
    for text, process in said.items():
        cluster.balancer.pinned = process.index
        assert cluster.customer("o_live_both").says(text)["status"] == 200
    # Then both streams show both messages, live, in the one conversation
    for stream in streams:
        for text in said:
            event = stream.wait_for(lambda e, text=text: e["event"] == "message"  # type: ignore[misc]
                                    and e["data"]["message"]["text"] == text)
            assert event["data"]["handoff_id"] == handoff_id
    assert cluster.balancer.served[-2:] == [cluster.a.index, cluster.b.index]
