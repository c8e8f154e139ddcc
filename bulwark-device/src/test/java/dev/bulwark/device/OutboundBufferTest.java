package dev.bulwark.device;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class OutboundBufferTest {
    private static byte[] b(int i) {
        return new byte[] {(byte) i};
    }

    @Test
    void drop_oldest_keeps_the_newest_and_counts_what_it_dropped() {
        OutboundBuffer buf = new OutboundBuffer(3, OutboundBuffer.DropPolicy.DROP_OLDEST);
        for (int i = 0; i < 5; i++) {
            assertThat(buf.offer("t", b(i))).isTrue();
        }
        assertThat(buf.dropped()).isEqualTo(2);
        assertThat(buf.heldSequences()).containsExactly(2L, 3L, 4L);
    }

    @Test
    void reject_newest_keeps_the_oldest_and_refuses_the_new_one() {
        OutboundBuffer buf = new OutboundBuffer(3, OutboundBuffer.DropPolicy.REJECT_NEWEST);
        for (int i = 0; i < 3; i++) {
            assertThat(buf.offer("t", b(i))).isTrue();
        }
        assertThat(buf.offer("t", b(9))).isFalse();
        assertThat(buf.dropped()).isEqualTo(1);
        assertThat(buf.heldSequences()).containsExactly(0L, 1L, 2L);
    }

    @Test
    void in_flight_messages_are_never_dropped_and_go_first_after_a_lost_connection() {
        OutboundBuffer buf = new OutboundBuffer(3, OutboundBuffer.DropPolicy.DROP_OLDEST);
        buf.offer("t", b(0));
        buf.offer("t", b(1));
        OutboundBuffer.Message m0 = buf.take(2);
        OutboundBuffer.Message m1 = buf.take(2);
        assertThat(buf.take(2)).isNull(); // window full
        buf.offer("t", b(2));
        buf.offer("t", b(3)); // full: the oldest waiting one (2) goes, not the in-flight ones
        assertThat(buf.heldSequences()).containsExactly(0L, 1L, 3L);
        buf.acknowledged(m1);
        buf.requeueInFlight();
        assertThat(buf.take(5)).isEqualTo(m0);
        assertThat(buf.take(5).sequence()).isEqualTo(3L);
        assertThat(buf.acknowledged()).isEqualTo(1);
        assertThat(buf.accepted()).isEqualTo(4);
        assertThat(buf.dropped()).isEqualTo(1);
    }
}
