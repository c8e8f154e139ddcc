package dev.bulwark.device;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.DeviceTopic;
import dev.bulwark.protocol.InvalidIdException;
import dev.bulwark.protocol.TopicParse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiPredicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the server sends the device: desired configuration (newer versions only, handed to the
 * {@link BulwarkDevice.ConfigHandler}, whose answer is reported back), commands (answered by the
 * {@link BulwarkDevice.CommandHandler}, the result sent back; each command id runs at most once, see
 * {@link ExecutedCommands}) and firmware offers (verified and installed by the
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
    private final AtomicLong commandsRepeated = new AtomicLong();
    private final ExecutedCommands executed;
    private final AtomicLong firmwareInstalled = new AtomicLong();
    private volatile FirmwareUpdater.Outcome lastFirmware;
    private long lastConfigVersion = -1;

    /**
     * @param stateDir where the ids of executed commands are kept ({@link ExecutedCommands})
     * @param firmware null when the device takes no firmware offers
     * @param send     queues a message for the server (topic, payload)
     */
    InboundMessages(DeviceId id, Path stateDir, BulwarkDevice.ConfigHandler configHandler, BulwarkDevice.CommandHandler commandHandler,
                    FirmwareUpdater firmware, BiPredicate<String, byte[]> send) {
        this.id = id;
        this.executed = new ExecutedCommands(stateDir);
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

    /** Commands delivered again and answered from their stored outcome, not run again. */
    long commandsRepeated() {
        return commandsRepeated.get();
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
        DeviceTopic.CommandResult topic;
        try {
            topic = new DeviceTopic.CommandResult(id, cmd.id());
        } catch (InvalidIdException e) {
            LOG.warn("device {}: ignored a command whose id the result topic cannot carry", id);
            return;
        }
        ExecutedCommands.Outcome previous;
        try {
            previous = executed.begin(cmd.id());
        } catch (RuntimeException e) {
            // without its id on disk a restart could run it again: not run at all (the server records no result, then expiry)
            LOG.warn("device {}: command {} not run: its id could not be stored ({})", id, cmd.id(), e.getMessage());
            return;
        }
        if (previous != null) {
            // delivered again (a lost acknowledgement, a second route): answered, not run again
            commandsRepeated.incrementAndGet();
            LOG.info("device {}: command {} was delivered again; answered with its stored outcome, not run again", id, cmd.id());
            boolean interrupted = ExecutedCommands.RUNNING.equals(previous.status());
            answer(topic, !interrupted && previous.status().equals("succeeded"), interrupted
                    ? JSON.createObjectNode().put("reason", "interrupted: the device stopped while running it; not run again")
                    : previous.result());
            return;
        }
        BulwarkDevice.CommandResult r;
        try {
            r = commandHandler == null ? BulwarkDevice.CommandResult.failed("this device handles no commands") : commandHandler.handle(cmd);
        } catch (RuntimeException e) {
            r = BulwarkDevice.CommandResult.failed("handler error: " + e.getClass().getSimpleName());
        }
        commandsHandled.incrementAndGet();
        try {
            executed.finish(cmd.id(), r.succeeded(), r.result());
        } catch (RuntimeException e) {
            LOG.warn("device {}: the outcome of command {} could not be stored ({}); a repeat is answered as interrupted", id, cmd.id(),
                    e.getMessage());
        }
        answer(topic, r.succeeded(), r.result());
    }

    private void answer(DeviceTopic.CommandResult topic, boolean succeeded, JsonNode result) {
        ObjectNode out = JSON.createObjectNode();
        out.put("status", succeeded ? "succeeded" : "failed");
        if (result != null) {
            out.set("result", result);
        }
        send.test(topic.name(), out.toString().getBytes(StandardCharsets.UTF_8));
    }
}
