package dev.bulwark.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.NullAndEmptySource;
import org.junit.jupiter.params.provider.ValueSource;

class DeviceTopicTest {
    static final DeviceId D = DeviceId.of("thermo-1");

    @Test
    void every_topic_of_the_namespace_parses_into_its_value_and_back_into_its_name() {
        DeviceTopic[] all = {new DeviceTopic.Telemetry(D), new DeviceTopic.Events(D), new DeviceTopic.ReportedConfig(D),
                new DeviceTopic.CommandResult(D, "cmd_7-a"), new DeviceTopic.DesiredConfig(D), new DeviceTopic.Commands(D),
                new DeviceTopic.Firmware(D)};
        for (DeviceTopic t : all) {
            assertThat(DeviceTopic.parse(t.name())).isEqualTo(t);
            assertThat(new DeviceNamespace(D).parse(t.name())).isEqualTo(t);
        }
        assertThat(DeviceTopic.parse("devices/thermo-1/telemetry").toString()).isNotEmpty();
        assertThat(DeviceTopic.parse(Topics.commandResult(D, "c1"))).isEqualTo(new DeviceTopic.CommandResult(D, "c1"));
    }

    @Test
    void what_a_device_publishes_is_upstream_and_what_it_subscribes_to_is_downstream() {
        assertThat(DeviceTopic.parse("devices/thermo-1/telemetry")).isInstanceOf(DeviceTopic.Upstream.class);
        assertThat(DeviceTopic.parse("devices/thermo-1/events")).isInstanceOf(DeviceTopic.Upstream.class);
        assertThat(DeviceTopic.parse("devices/thermo-1/config/reported")).isInstanceOf(DeviceTopic.Upstream.class);
        assertThat(DeviceTopic.parse("devices/thermo-1/commands/c1/result")).isInstanceOf(DeviceTopic.Upstream.class);
        assertThat(DeviceTopic.parse("devices/thermo-1/config/desired")).isInstanceOf(DeviceTopic.Downstream.class);
        assertThat(DeviceTopic.parse("devices/thermo-1/commands")).isInstanceOf(DeviceTopic.Downstream.class);
        assertThat(DeviceTopic.parse("devices/thermo-1/firmware")).isInstanceOf(DeviceTopic.Downstream.class);
    }

    @ParameterizedTest
    @NullAndEmptySource
    void a_missing_topic_is_refused_as_empty(String topic) {
        assertThat(DeviceTopic.parse(topic)).isEqualTo(new TopicParse.Refused(TopicParse.Problem.EMPTY, null));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', nullValues = "null", value = {
            "devices/+/telemetry|WILDCARD|null",
            "devices/thermo-1/#|WILDCARD|null",
            "#|WILDCARD|null",
            "device/thermo-1/telemetry|OUTSIDE_NAMESPACE|null",
            "/devices/thermo-1/telemetry|OUTSIDE_NAMESPACE|null",
            "devices/thermo-1|OUTSIDE_NAMESPACE|null",
            "$SYS/broker|OUTSIDE_NAMESPACE|null",
            "devices//telemetry|INVALID_DEVICE_ID|''",
            "devices/a b/telemetry|INVALID_DEVICE_ID|a b",
            "devices/00:11:22:33:44:55/telemetry|INVALID_DEVICE_ID|00:11:22:33:44:55",
            "devices/thermo-1/|UNKNOWN_TOPIC|thermo-1",
            "devices/thermo-1/telemetry/|UNKNOWN_TOPIC|thermo-1",
            "devices/thermo-1/telemetry/x|UNKNOWN_TOPIC|thermo-1",
            "devices/thermo-1/Telemetry|UNKNOWN_TOPIC|thermo-1",
            "devices/thermo-1/config|UNKNOWN_TOPIC|thermo-1",
            "devices/thermo-1/commands/result|UNKNOWN_TOPIC|thermo-1",
            "devices/thermo-1/commands//result|INVALID_COMMAND_ID|thermo-1",
            "devices/thermo-1/commands/a.b/result|INVALID_COMMAND_ID|thermo-1",
            "devices/thermo-1/commands/a/b/result|INVALID_COMMAND_ID|thermo-1",
            "devices/other/telemetry/x|UNKNOWN_TOPIC|other"})
    void a_name_outside_the_grammar_is_refused_with_its_problem_and_device_level(String topic, TopicParse.Problem problem,
                                                                                 String level) {
        TopicParse p = DeviceTopic.parse(topic);
        assertThat(p).isEqualTo(new TopicParse.Refused(problem, level));
        assertThat(((TopicParse.Refused) p).reason()).isNotBlank();
        assertThat(new DeviceNamespace(D).parse(topic)).isEqualTo(p);
    }

    @ParameterizedTest
    @ValueSource(strings = {"devices/thermo-1/telemetry", "devices/thermo-1/commands//result", "devices/thermo-1/nope"})
    void a_device_owns_the_names_under_its_own_level_only(String topic) {
        assertThat(new DeviceNamespace(D).owns(DeviceTopic.parse(topic))).isTrue();
        assertThat(new DeviceNamespace(DeviceId.of("thermo-2")).owns(DeviceTopic.parse(topic))).isFalse();
        assertThat(new DeviceNamespace(D).owns(DeviceTopic.parse("devices/thermo-1"))).isFalse();
        assertThat(new DeviceNamespace(D).owns(DeviceTopic.parse("other/thermo-1/telemetry"))).isFalse();
    }

    @Test
    void the_frequent_topics_of_a_namespace_are_answered_without_a_new_value() {
        DeviceNamespace ns = new DeviceNamespace(D);
        assertThat(ns.parse("devices/thermo-1/telemetry")).isSameAs(ns.telemetry());
        assertThat(ns.parse(new String("devices/thermo-1/events"))).isSameAs(ns.events());
        assertThat(ns.parse("devices/thermo-1/config/reported")).isSameAs(ns.reportedConfig());
    }

    @Test
    void a_command_result_value_cannot_be_built_with_a_command_id_outside_the_grammar() {
        assertThatThrownBy(() -> new DeviceTopic.CommandResult(D, "a/b")).isInstanceOf(InvalidIdException.class);
        assertThatThrownBy(() -> new DeviceTopic.CommandResult(D, "")).isInstanceOf(InvalidIdException.class);
    }
}
