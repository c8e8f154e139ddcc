package dev.bulwark.device;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.DeviceTopic;
import java.net.URI;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttActionListener;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttCallback;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The device's MQTT 5 session over mutual TLS: connects with the current credential, reconnects with
 * backoff, subscribes to the device's inbound topics and drains the {@link OutboundBuffer} at QoS 1 within
 * the in-flight window. A message leaves the buffer only when the server acknowledges it.
 *
 * <p>Endpoints: one address (a load balancer in front of a cluster, or a single node) or several (the nodes of
 * a cluster). The session uses one at a time; when a connection attempt fails or an established connection is
 * lost, the next attempt goes to the next endpoint, in order, wrapping around. The backoff delay grows once
 * per round of every endpoint ({@code attempt / endpoints}), so with one endpoint the delays are exactly the
 * single-address ones, and with several, a dead node costs its neighbours no more than one short wait.
 *
 * <p>Every connection has a generation number: callbacks of a connection that has since been replaced are
 * ignored. All state is guarded by this object's monitor.
 */
final class MqttSession {
    private static final Logger LOG = LoggerFactory.getLogger(BulwarkDevice.class);

    /** What {@link BulwarkDevice.Stats} reports of the session. */
    record Status(boolean connected, long connects, long connectFailures, String lastError, URI endpoint) {
    }

    private final DeviceId id;
    private final List<URI> endpoints;
    private final List<X509Certificate> anchors;
    private final OutboundBuffer buffer;
    private final Backoff backoff;
    private final int window;
    private final Duration keepAlive;
    private final boolean firmwareOffers;
    private final BiConsumer<String, byte[]> inbound;

    private CredentialFiles.Credential credential;
    private MqttAsyncClient client;
    private int generation;
    private boolean connected;
    private boolean closed;
    private int attempt;
    /** Index into {@link #endpoints} of the endpoint in use, or tried next. */
    private int endpoint;
    private long offlineUntilMs;
    private ScheduledFuture<?> pending;
    private String lastError;
    private final CountDownLatch firstConnect = new CountDownLatch(1);
    private final AtomicLong connects = new AtomicLong();
    private final AtomicLong connectFailures = new AtomicLong();

    /**
     * @param endpoints      the MQTT over TLS addresses ({@code ssl://host:port}), tried in this order; at least one
     * @param firmwareOffers whether to subscribe to the device's firmware topic too
     * @param inbound        receives every message of the current connection (topic, payload), on the callback thread
     */
    MqttSession(DeviceId id, List<URI> endpoints, List<X509Certificate> anchors, OutboundBuffer buffer, Backoff backoff, int window,
                Duration keepAlive, boolean firmwareOffers, BiConsumer<String, byte[]> inbound) {
        this.id = id;
        if (endpoints.isEmpty()) {
            throw new IllegalArgumentException("at least one MQTT endpoint is needed");
        }
        this.endpoints = List.copyOf(endpoints);
        this.anchors = anchors;
        this.buffer = buffer;
        this.backoff = backoff;
        this.window = window;
        this.keepAlive = keepAlive;
        this.firmwareOffers = firmwareOffers;
        this.inbound = inbound;
    }

    // ---- state shared with enrollment and renewal -----------------------------------------------------------

    synchronized CredentialFiles.Credential credential() {
        return credential;
    }

    synchronized boolean isClosed() {
        return closed;
    }

    /**
     * Uses {@code c} from now on. If a connection exists (or is being made), it is closed cleanly and a new one
     * is made at once with the new certificate; what was in flight is sent again.
     */
    synchronized void useCredential(CredentialFiles.Credential c) {
        credential = c;
        if (client != null) {
            closeClient(true);
            connected = false;
            schedule(this::connect, 0);
        }
    }

    synchronized Status status() {
        return new Status(connected, connects.get(), connectFailures.get(), lastError, endpoints.get(endpoint));
    }

    boolean awaitConnected(Duration timeout) throws InterruptedException {
        return firstConnect.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    synchronized void dropNetwork(Duration d) {
        offlineUntilMs = System.currentTimeMillis() + d.toMillis();
        if (client != null) {
            lost("network dropped (simulated)");
        }
    }

    // ---- the connection -------------------------------------------------------------------------------------

    void connect() {
        MqttAsyncClient c;
        int gen;
        MqttConnectionOptions o = new MqttConnectionOptions();
        synchronized (this) {
            if (closed || connected || client != null) {
                return;
            }
            long wait = offlineUntilMs - System.currentTimeMillis();
            if (wait > 0) {
                schedule(this::connect, wait);
                return;
            }
            try {
                c = new MqttAsyncClient(endpoints.get(endpoint).toString(), id.value(), new MemoryPersistence());
            } catch (MqttException e) {
                fail("bad MQTT address: " + e.getMessage());
                return;
            }
            gen = ++generation;
            client = c;
            o.setCleanStart(true);
            o.setSessionExpiryInterval(0L);
            o.setAutomaticReconnect(false);
            o.setKeepAliveInterval((int) keepAlive.toSeconds());
            o.setConnectionTimeout(15);
            o.setHttpsHostnameVerificationEnabled(true);
            o.setSocketFactory(DeviceTls.context(anchors, credential).getSocketFactory());
            c.setCallback(new Callback(gen));
        }
        try {
            c.connect(o, null, new MqttActionListener() {
                @Override
                public void onSuccess(IMqttToken token) {
                    connected(gen);
                }

                @Override
                public void onFailure(IMqttToken token, Throwable e) {
                    connectFailed(gen, e);
                }
            });
        } catch (MqttException e) {
            connectFailed(gen, e);
        }
    }

    private void connected(int gen) {
        MqttAsyncClient c;
        synchronized (this) {
            if (gen != generation || closed) {
                return;
            }
            connected = true;
            attempt = 0;
            lastError = null;
            c = client;
            // What the previous connection left unacknowledged is sent again now, not when that connection
            // broke: acknowledgements still on their way from it had the reconnect's time to arrive.
            buffer.requeueInFlight();
        }
        connects.incrementAndGet();
        firstConnect.countDown();
        try {
            if (firmwareOffers) {
                c.subscribe(new String[] {new DeviceTopic.DesiredConfig(id).name(), new DeviceTopic.Commands(id).name(), new DeviceTopic.Firmware(id).name()}, new int[] {1, 1, 1});
            } else {
                c.subscribe(new String[] {new DeviceTopic.DesiredConfig(id).name(), new DeviceTopic.Commands(id).name()}, new int[] {1, 1});
            }
        } catch (MqttException e) {
            lost("subscribe failed: " + e.getMessage());
            return;
        }
        pump();
    }

    private void connectFailed(int gen, Throwable e) {
        synchronized (this) {
            if (gen != generation || closed) {
                return;
            }
            connectFailures.incrementAndGet();
            lastError = "connect failed: " + describe(e) + " (" + endpoints.get(endpoint) + ")";
            closeClient(false);
            long delay = nextEndpointDelay();
            schedule(this::connect, delay);
        }
    }

    /** The connection is gone (or must go): requeue what was in flight and reconnect after a backoff delay. */
    private synchronized void lost(String why) {
        if (client == null) {
            return;
        }
        lastError = why;
        boolean wasConnected = connected;
        connected = false;
        closeClient(false);
        if (!closed) {
            if (wasConnected) {
                endpoint = (endpoint + 1) % endpoints.size();
                schedule(this::connect, backoff.delayMs(0));
            } else {
                schedule(this::connect, nextEndpointDelay());
            }
        }
    }

    /**
     * Moves to the next endpoint and returns the wait before trying it: the backoff of the number of complete
     * rounds over every endpoint so far (with one endpoint, the backoff of the attempt).
     */
    private long nextEndpointDelay() {
        endpoint = (endpoint + 1) % endpoints.size();
        return backoff.delayMs(attempt++ / endpoints.size());
    }

    private synchronized void lostIf(int gen, String why) {
        if (gen == generation) {
            lost(why);
        }
    }

    // ---- the outbound buffer --------------------------------------------------------------------------------

    /** Sends what the buffer holds, up to the in-flight window, while connected. */
    void pump() {
        while (true) {
            MqttAsyncClient c;
            int gen;
            OutboundBuffer.Message m;
            synchronized (this) {
                if (!connected || closed) {
                    return;
                }
                m = buffer.take(window);
                if (m == null) {
                    return;
                }
                c = client;
                gen = generation;
            }
            try {
                c.publish(m.topic(), m.payload(), 1, false, null, new MqttActionListener() {
                    @Override
                    public void onSuccess(IMqttToken token) {
                        int[] codes = token.getReasonCodes();
                        if (codes != null && codes.length > 0 && codes[0] >= 0x80) {
                            lostIf(gen, "the server refused a message (reason " + codes[0] + ")");
                            return;
                        }
                        buffer.acknowledged(m);
                        DeviceThreads.SHARED.execute(MqttSession.this::pump);
                    }

                    @Override
                    public void onFailure(IMqttToken token, Throwable e) {
                        lostIf(gen, "publish failed: " + describe(e));
                    }
                });
            } catch (MqttException e) {
                lostIf(gen, "publish failed: " + describe(e));
                return;
            }
        }
    }

    private final class Callback implements MqttCallback {
        private final int gen;

        Callback(int gen) {
            this.gen = gen;
        }

        @Override
        public void disconnected(MqttDisconnectResponse response) {
            lostIf(gen, "disconnected by the server" + (response == null ? "" : " (reason " + response.getReturnCode() + ")"));
        }

        @Override
        public void mqttErrorOccurred(MqttException e) {
            lostIf(gen, "MQTT error: " + describe(e));
        }

        @Override
        public void messageArrived(String topic, MqttMessage message) {
            synchronized (MqttSession.this) {
                if (gen != generation) {
                    return;
                }
            }
            inbound.accept(topic, message.getPayload());
        }

        @Override
        public void deliveryComplete(IMqttToken token) {
        }

        @Override
        public void connectComplete(boolean reconnect, String serverURI) {
        }

        @Override
        public void authPacketArrived(int reasonCode, MqttProperties properties) {
        }
    }

    // ---- plumbing -------------------------------------------------------------------------------------------

    private synchronized void closeClient(boolean graceful) {
        MqttAsyncClient c = client;
        client = null;
        generation++;
        if (c == null) {
            return;
        }
        DeviceThreads.SHARED.execute(() -> {
            try {
                if (graceful && c.isConnected()) {
                    c.disconnect(2_000).waitForCompletion(3_000);
                } else {
                    c.disconnectForcibly(0, 0, false);
                }
            } catch (MqttException | RuntimeException e) {
                // already gone
            }
            try {
                c.close(true);
            } catch (MqttException | RuntimeException e) {
                // already closed
            }
        });
    }

    private synchronized void schedule(Runnable r, long delayMs) {
        if (closed) {
            return;
        }
        pending = DeviceThreads.SHARED.schedule(r, delayMs, TimeUnit.MILLISECONDS);
    }

    /** Runs {@code r} again after the next backoff delay (unless the device is closed by then). */
    void retryLater(Runnable r) {
        long delay;
        synchronized (this) {
            delay = backoff.delayMs(attempt++);
        }
        schedule(r, delay);
    }

    /** Records {@code why} as the last error, and logs it. */
    synchronized void fail(String why) {
        lastError = why;
        LOG.warn("device {}: {}", id, why);
    }

    static String describe(Throwable e) {
        if (e == null) {
            return "unknown";
        }
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root == e ? String.valueOf(e.getMessage()) : e.getMessage() + " (" + root.getMessage() + ")";
    }

    /** Disconnects cleanly (what was not acknowledged stays counted as buffered) and stops the reconnect timer. */
    synchronized void close() {
        closed = true;
        if (pending != null) {
            pending.cancel(false);
        }
        connected = false;
        closeClient(true);
        buffer.requeueInFlight();
    }
}
