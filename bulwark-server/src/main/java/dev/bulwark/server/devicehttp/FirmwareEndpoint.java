package dev.bulwark.server.devicehttp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.firmware.FirmwareService;
import dev.bulwark.server.firmware.RolloutService;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.util.Optional;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Firmware for devices, over mutually authenticated HTTPS:
 *
 * <ul>
 *   <li>{@code GET /device/v1/firmware/{release}}: the tenant's root chain, the release's signed targets and a
 *       fresh timestamp;</li>
 *   <li>{@code GET /device/v1/firmware/{release}/image}: the image, with byte ranges ({@code Range: bytes=a-b},
 *       206 and {@code Content-Range}) so that an interrupted download resumes; streamed piece by piece, each
 *       piece read and decrypted from the stored chunks only when the previous one has been written;</li>
 *   <li>{@code POST /device/v1/firmware/{release}/report}: {@code {"state": "downloading|verified|installed|failed",
 *       "reason": "..."}}.</li>
 * </ul>
 *
 * Only an authenticated device of the release's tenant and model gets an answer; anyone else, without
 * credentials too, gets 404 (a refused authentication is still recorded as a security event).
 */
final class FirmwareEndpoint {
    private static final Logger LOG = LoggerFactory.getLogger(FirmwareEndpoint.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Vertx vertx;
    private final dev.bulwark.server.core.Clock clock;
    private final dev.bulwark.server.store.Database db;
    private final dev.bulwark.server.device.DeviceStore deviceStore;
    private final dev.bulwark.server.monitor.SecurityEvents securityEvents;
    private final DeviceHttpsServer devices;
    private final FirmwareService firmware;
    private final RolloutService rollouts;

    FirmwareEndpoint(Vertx vertx, dev.bulwark.server.core.Clock clock, dev.bulwark.server.store.Database db,
                     dev.bulwark.server.device.DeviceStore deviceStore, dev.bulwark.server.monitor.SecurityEvents securityEvents,
                     DeviceHttpsServer devices, FirmwareService firmware, RolloutService rollouts) {
        this.vertx = vertx;
        this.clock = clock;
        this.db = db;
        this.deviceStore = deviceStore;
        this.securityEvents = securityEvents;
        this.devices = devices;
        this.firmware = firmware;
        this.rollouts = rollouts;
    }

    void mount(Router router) {
        // a caller that is not an authenticated device of the release's tenant and model gets 404 (the refusal is recorded)
        router.get("/device/v1/firmware/:release").handler(ctx -> devices.withDevice(ctx, d -> blocking(ctx, d, () -> metadata(d, ctx)), true));
        router.get("/device/v1/firmware/:release/image").handler(ctx -> devices.withDevice(ctx, d -> image(d, ctx), true));
        router.post("/device/v1/firmware/:release/report").handler(dev.bulwark.server.http.StrictHttp1.beforeBody(ctx -> devices.authenticateFirst(ctx, 4096, true)))
                .handler(BodyHandler.create(false).setBodyLimit(4096).setHandleFileUploads(false))
                .handler(ctx -> {
                    DevicePrincipal d = ctx.get(DeviceHttpsServer.DEVICE);
                    blocking(ctx, d, () -> report(d, ctx));
                });
    }

    /** The release, if this device may have it: same tenant, same model. */
    private Optional<FirmwareService.Release> releaseFor(DevicePrincipal d, RoutingContext ctx) {
        return releaseFor(d, ctx, true);
    }

    private Optional<FirmwareService.Release> releaseFor(DevicePrincipal d, RoutingContext ctx, boolean offeredNow) {
        String id = ctx.pathParam("release");
        if (id == null || !id.matches("fw-[0-9a-f]{16}")) {
            return Optional.empty();
        }
        return db.read(h -> {
            Optional<FirmwareService.Release> r = firmware.release(h, d.tenant(), id);
            Optional<String> model = deviceStore.find(h, d.tenant(), d.device()).map(x -> x.model());
            // this tenant, this model, and offered to this device by a rollout that runs now: a paused or aborted
            // rollout gets no fresh timestamp and no image
            return r.filter(x -> model.isPresent() && model.get().equals(x.model())
                    && (!offeredNow || rollouts.offeredNow(h, d.tenant(), d.device(), x.id())));
        });
    }

    private Reply metadata(DevicePrincipal d, RoutingContext ctx) {
        FirmwareService.Release r = releaseFor(d, ctx).orElseThrow(Refusal::notFound);
        JsonNode body = db.read(h -> firmware.metadata(h, r, clock.nowMs()));
        return new Reply(200, "application/json", Buffer.buffer(body.toString()), null);
    }

    /** How much of an image one step of a download reads and decrypts (eight chunks): the memory a download holds. */
    static final int PIECE = 8 * FirmwareService.CHUNK;
    private static final java.util.regex.Pattern RANGE = java.util.regex.Pattern.compile("bytes=(\\d{1,12})-(\\d{0,12})");

    /** A download under way: the opened image and the range still to send. */
    private record Download(FirmwareService.Image image, long from, long to, int status, String contentRange, byte[] first) {
    }

    /**
     * The image, or the requested range of it, streamed: the first piece is read and decrypted before the status
     * line is sent (so that an image altered in storage is answered 500), then each further piece only once the
     * previous one has left the write queue. No more than {@link #PIECE} bytes of the image are held per download.
     */
    private void image(DevicePrincipal d, RoutingContext ctx) {
        String range = ctx.request().getHeader("Range");
        vertx.executeBlocking(() -> {
            FirmwareService.Release r = releaseFor(d, ctx).orElseThrow(Refusal::notFound);
            FirmwareService.Image img;
            try {
                img = db.read(h -> firmware.openImage(h, r.tenant(), r.id()));
            } catch (IllegalStateException e) {
                return (Object) unavailable(r.id());
            }
            long length = img.length();
            long from = 0;
            long to = length - 1;
            int status = 200;
            String contentRange = null;
            if (range != null) {
                java.util.regex.Matcher m = RANGE.matcher(range.trim());
                if (!m.matches()) {
                    img.close();
                    return new Reply(416, "application/problem+json", Buffer.buffer("{\"status\":416,\"detail\":\"one range, bytes=a-b\"}"),
                            "bytes */" + length);
                }
                from = Long.parseLong(m.group(1));
                to = m.group(2).isEmpty() ? length - 1 : Math.min(Long.parseLong(m.group(2)), length - 1);
                if (from >= length || from > to) {
                    img.close();
                    return new Reply(416, "application/problem+json", Buffer.buffer("{\"status\":416,\"detail\":\"range not satisfiable\"}"),
                            "bytes */" + length);
                }
                status = 206;
                contentRange = "bytes " + from + "-" + to + "/" + length;
            }
            if (to < from) { // an empty image
                return new Download(img, 0, -1, status, contentRange, new byte[0]);
            }
            long firstEnd = Math.min(to, from + PIECE - 1);
            long start = from;
            try {
                byte[] first = db.read(h -> img.read(h, start, firstEnd));
                return new Download(img, from, to, status, contentRange, first);
            } catch (IllegalStateException e) {
                img.close();
                return unavailable(r.id());
            }
        }, false).onComplete(ar -> {
            if (ar.failed()) {
                failed(ctx, d, ar.cause());
                return;
            }
            if (ar.result() instanceof Reply reply) {
                send(ctx, reply);
                return;
            }
            Download dl = (Download) ar.result();
            HttpServerResponse resp = ctx.response();
            resp.closeHandler(v -> dl.image().close());
            resp.setStatusCode(dl.status()).putHeader("Accept-Ranges", "bytes").putHeader("Content-Type", "application/octet-stream")
                    .putHeader("Content-Length", String.valueOf(dl.to() - dl.from() + 1));
            if (dl.contentRange() != null) {
                resp.putHeader("Content-Range", dl.contentRange());
            }
            resp.write(Buffer.buffer(dl.first()));
            next(ctx, dl, dl.from() + dl.first().length);
        });
    }

    /** Sends the next piece from {@code next} once the write queue has room; ends the response after the last. */
    private void next(RoutingContext ctx, Download dl, long next) {
        HttpServerResponse resp = ctx.response();
        if (resp.closed()) {
            dl.image().close();
            return;
        }
        if (resp.writeQueueFull()) {
            resp.drainHandler(v -> next(ctx, dl, next));
            return;
        }
        if (next > dl.to()) {
            dl.image().close();
            resp.end();
            return;
        }
        long end = Math.min(dl.to(), next + PIECE - 1);
        vertx.executeBlocking(() -> db.read(h -> dl.image().read(h, next, end)), false).onComplete(ar -> {
            if (ar.failed()) {
                // the status line is out: the only honest answer left is to cut the download (the device checks the image's hash)
                LOG.error("firmware image download cut: {}", ar.cause() instanceof IllegalStateException ? ar.cause().getMessage() : ar.cause().toString());
                dl.image().close();
                ctx.request().connection().close();
                return;
            }
            resp.write(Buffer.buffer(ar.result()));
            next(ctx, dl, end + 1);
        });
    }

    private static Reply unavailable(String id) {
        LOG.error("firmware image {} cannot be decrypted: it was altered in storage", id);
        return new Reply(500, "application/problem+json", Buffer.buffer("{\"type\":\"urn:bulwark:problem:image-unavailable\","
                + "\"status\":500,\"detail\":\"the stored image failed its integrity check\"}"), null);
    }

    private Reply report(DevicePrincipal d, RoutingContext ctx) {
        FirmwareService.Release r = releaseFor(d, ctx, false).orElseThrow(Refusal::notFound); // reports still count after a pause
        JsonNode body;
        try {
            body = JSON.readTree(ctx.body().buffer() == null ? new byte[0] : ctx.body().buffer().getBytes());
        } catch (java.io.IOException e) {
            throw Refusal.invalid("the report is JSON: {\"state\": ..., \"reason\": ...}");
        }
        if (body == null || !body.path("state").isTextual()) {
            throw Refusal.invalid("the report is JSON: {\"state\": ..., \"reason\": ...}");
        }
        String reason = body.path("reason").isTextual() ? body.get("reason").asText() : null;
        String rollout = body.path("rollout").isTextual() ? body.get("rollout").asText() : null;
        db.tx(h -> {
            rollouts.report(h, d.tenant(), d.device(), r.id(), rollout, body.get("state").asText(), reason);
            return null;
        });
        return new Reply(204, null, null, null);
    }

    private record Reply(int status, String contentType, Buffer body, String contentRange) {
    }

    private void blocking(RoutingContext ctx, DevicePrincipal device, Supplier<Reply> work) {
        vertx.executeBlocking(work::get, false).onComplete(ar -> {
            if (ar.succeeded()) {
                send(ctx, ar.result());
            } else {
                failed(ctx, device, ar.cause());
            }
        });
    }

    private static void send(RoutingContext ctx, Reply r) {
        ctx.response().setStatusCode(r.status());
        if (r.contentRange() != null) {
            ctx.response().putHeader("Content-Range", r.contentRange());
        }
        if (r.status() == 200 || r.status() == 206) {
            ctx.response().putHeader("Accept-Ranges", "bytes");
        }
        if (r.body() == null) {
            ctx.response().end();
        } else {
            ctx.response().putHeader("Content-Type", r.contentType()).end(r.body());
        }
    }

    private void failed(RoutingContext ctx, DevicePrincipal device, Throwable cause) {
        if (cause instanceof Refusal ref) {
            // a device asking for a release that is not for it (another model, no running offer) is recorded
            io.vertx.core.net.SocketAddress a = ctx.request().remoteAddress();
            securityEvents.record(new dev.bulwark.server.monitor.SecurityEvent(clock.nowMs(), device.tenant().value(),
                    "firmware-access-refused", ref.reason(), device.describe() + " release:" + String.valueOf(ctx.pathParam("release")),
                    a == null ? null : a.hostAddress(), a == null ? 0 : a.port(), "device-https", ctx.request().path()));
            DeviceHttpsServer.problem(ctx, ref.kind().status, ref.kind().slug, ref.reason());
        } else {
            LOG.error("device firmware request failed", cause);
            DeviceHttpsServer.problem(ctx, 503, "unavailable", "try again later");
        }
    }
}
