package dev.bulwark.device;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.DeviceTopic;
import dev.bulwark.protocol.InvalidIdException;
import dev.bulwark.protocol.TopicParse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiPredicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the server sends the device: desired configuration (newer versions only, handed to the
 * {@link BulwarkDevice.ConfigHandler}, whose answer is reported back), commands (answered by the
 * {@link BulwarkDevice.CommandHandler}, the result sent back) and firmware offers (verified and installed by the
 * {@link FirmwareUpdater}, off the session's callback thread).
 */
final class InboundMessages {
    private static final Logger LOG = LoggerFactory.getLogger(BulwarkDevice.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final DeviceId id;
    private final BulwarkDevice.ConfigHandler configHandler;
    private final BulwarkDevice.CommandHandler commandHandler;
    private final FirmwareUpdater firmware;
    private final BiPredicate<String, byte[]> send;
    private final AtomicLong configsApplied = new AtomicLong();
    private final AtomicLong commandsHandled = new AtomicLong();
    private final AtomicLong firmwareInstalled = new AtomicLong();
    private volatile FirmwareUpdater.Outcome lastFirmware;
    private long lastConfigVersion = -1;

    /**
     * @param firmware null when the device takes no firmware offers
     * @param send     queues a message for the server (topic, payload)
     */
    InboundMessages(DeviceId id, BulwarkDevice.ConfigHandler configHandler, BulwarkDevice.CommandHandler commandHandler,
                    FirmwareUpdater firmware, BiPredicate<String, byte[]> send) {
        this.id = id;
        this.configHandler = configHandler;
        this.commandHandler = commandHandler;
        this.firmware = firmware;
        this.send = send;
    }

    long configsApplied() {
        return configsApplied.get();
    }

    long commandsHandled() {
        return commandsHandled.get();
    }

    FirmwareUpdater.Outcome lastFirmware() {
        return lastFirmware;
    }

    void handle(String topic, byte[] payload) {
        // the same grammar the server routes by: only this device's own downstream topics are acted on
        TopicParse parsed = DeviceTopic.parse(topic);
        if (!(parsed instanceof DeviceTopic.Downstream down) || !down.device().equals(id)) {
            LOG.warn("device {}: ignored a message on a topic that is not one of its own downstream topics", id);
            return;
        }
        if (down instanceof DeviceTopic.Firmware) {
            if (firmware == null) {
                return;
            }
            // off the callback thread: downloading and installing take time
            DeviceThreads.SHARED.execute(() -> {
                FirmwareUpdater.Outcome o = firmware.handleOffer(payload);
                lastFirmware = o;
                if (o.installed()) {
                    firmwareInstalled.incrementAndGet();
                    LOG.info("device {} installed firmware {}", id, o.version());
                } else {
                    LOG.warn("device {} refused a firmware offer: {}", id, o.reason());
                }
            });
            return;
        }
        JsonNode doc;
        try {
            doc = JSON.readTree(payload);
        } catch (java.io.IOException e) {
            LOG.warn("device {}: ignored a message on {} that is not JSON", id, topic);
            return;
        }
        if (down instanceof DeviceTopic.DesiredConfig) {
            desired(doc);
        } else if (down instanceof DeviceTopic.Commands) {
            command(doc);
        }
    }

    private void desired(JsonNode doc) {
        long version = doc.path("version").asLong(-1);
        synchronized (this) {
            if (version <= lastConfigVersion) {
                return;
            }
            lastConfigVersion = version;
        }
        if (configHandler != null) {
            JsonNode reported = configHandler.onDesired(version, doc.path("desired"));
            configsApplied.incrementAndGet();
            if (reported != null) {
                send.test(new DeviceTopic.ReportedConfig(id).name(), reported.toString().getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    private void command(JsonNode doc) {
        BulwarkDevice.Command cmd = new BulwarkDevice.Command(doc.path("id").asText(), doc.path("name").asText(), doc.path("params"),
                doc.path("expiresAt").asText(null));
        BulwarkDevice.CommandResult r;
        try {
            r = commandHandler == null ? BulwarkDevice.CommandResult.failed("this device handles no commands") : commandHandler.handle(cmd);
        } catch (RuntimeException e) {
            r = BulwarkDevice.CommandResult.failed("handler error: " + e.getClass().getSimpleName());
        }
        commandsHandled.incrementAndGet();
        ObjectNode out = JSON.createObjectNode();
        out.put("status", r.succeeded() ? "succeeded" : "failed");
        if (r.result() != null) {
            out.set("result", r.result());
        }
        DeviceTopic.CommandResult topic;
        try {
            topic = new DeviceTopic.CommandResult(id, cmd.id());
        } catch (InvalidIdException e) {
            LOG.warn("device {}: a command id the result topic cannot carry; no result sent", id);
            return;
        }
        send.test(topic.name(), out.toString().getBytes(StandardCharsets.UTF_8));
    }
}
