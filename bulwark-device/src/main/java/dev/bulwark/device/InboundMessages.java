package dev.bulwark.device;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.Topics;
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
        if (firmware != null && topic.equals(Topics.firmware(id))) {
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
        if (topic.equals(Topics.configDesired(id))) {
            desired(doc);
        } else if (topic.equals(Topics.commands(id))) {
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
                send.test(Topics.configReported(id), reported.toString().getBytes(StandardCharsets.UTF_8));
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
        if (cmd.id().matches("[A-Za-z0-9._-]{1,64}")) {
            send.test(Topics.commandResult(id, cmd.id()), out.toString().getBytes(StandardCharsets.UTF_8));
        }
    }
}
