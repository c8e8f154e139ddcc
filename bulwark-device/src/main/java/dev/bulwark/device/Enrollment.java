package dev.bulwark.device;

import dev.bulwark.protocol.DeviceId;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The device's identity over its life: the stored credential, or a first enrollment over EST
 * {@code simpleenroll} with the one-time token (a key made on the device, only the CSR sent); then a renewal
 * ({@code simplereenroll}, a new key) before the certificate expires, after which the session reconnects
 * with the new certificate.
 */
final class Enrollment {
    private static final Logger LOG = LoggerFactory.getLogger(BulwarkDevice.class);

    private final DeviceId id;
    private final CredentialFiles files;
    private final EstClient est;
    private final String enrollmentToken;
    private final Duration renewBefore;
    private final MqttSession session;
    private final AtomicLong renewals = new AtomicLong();
    private ScheduledFuture<?> renewal;

    /** @param renewBefore renew when this much validity is left; null for a third of the certificate's lifetime */
    Enrollment(DeviceId id, CredentialFiles files, EstClient est, String enrollmentToken, Duration renewBefore, MqttSession session) {
        this.id = id;
        this.files = files;
        this.est = est;
        this.enrollmentToken = enrollmentToken;
        this.renewBefore = renewBefore;
        this.session = session;
    }

    long renewals() {
        return renewals.get();
    }

    /** Loads the stored credential or enrolls, schedules the renewal, then connects. */
    void boot() {
        try {
            CredentialFiles.Credential c = files.load().orElse(null);
            if (c == null) {
                if (enrollmentToken == null) {
                    session.fail("no stored credential and no enrollment token: the device cannot enroll");
                    return;
                }
                DeviceKeys keys = DeviceKeys.generate(id);
                X509Certificate cert = est.enroll(enrollmentToken, keys.csrDer());
                files.store(keys.keyPair(), cert);
                c = new CredentialFiles.Credential(keys.keyPair(), cert);
                LOG.info("device {} enrolled over EST: certificate serial {}", id, cert.getSerialNumber().toString(16));
            }
            session.useCredential(c);
            scheduleRenewal();
            session.connect();
        } catch (EstClient.EstException e) {
            session.fail(e.getMessage());
            if (e.retryable()) {
                session.retryLater(this::boot);
            }
        } catch (RuntimeException e) {
            session.fail("start failed: " + e.getMessage());
        }
    }

    private void scheduleRenewal() {
        if (session.isClosed()) {
            return;
        }
        CredentialFiles.Credential current = session.credential();
        if (current == null) {
            return;
        }
        X509Certificate cert = current.certificate();
        long notBefore = cert.getNotBefore().getTime();
        long notAfter = cert.getNotAfter().getTime();
        long lifetime = Math.max(1, notAfter - notBefore);
        // at most 90% of the lifetime ahead: a margin as long as the lifetime would renew in a tight loop
        long margin = Math.min(renewBefore != null ? renewBefore.toMillis() : lifetime / 3, lifetime * 9 / 10);
        long delay = Math.max(0, notAfter - margin - System.currentTimeMillis());
        if (renewals.get() > 0) {
            delay = Math.max(delay, lifetime / 20); // never straight again after a renewal
        }
        synchronized (this) {
            if (renewal != null) {
                renewal.cancel(false);
            }
            renewal = DeviceThreads.SHARED.schedule(this::renew, delay, TimeUnit.MILLISECONDS);
        }
    }

    /** Renews now: a new key, EST {@code simplereenroll}, then a reconnect with the new certificate. */
    void renew() {
        if (session.isClosed()) {
            return;
        }
        CredentialFiles.Credential current = session.credential();
        if (current == null) {
            return;
        }
        try {
            DeviceKeys keys = DeviceKeys.generate(id);
            X509Certificate cert = est.reenroll(current, keys.csrDer());
            files.store(keys.keyPair(), cert);
            renewals.incrementAndGet();
            LOG.info("device {} renewed its certificate: serial {}", id, cert.getSerialNumber().toString(16));
            // reconnect with the new certificate; what was in flight is sent again
            session.useCredential(new CredentialFiles.Credential(keys.keyPair(), cert));
            scheduleRenewal();
        } catch (RuntimeException e) {
            session.fail("renewal failed: " + e.getMessage());
            session.retryLater(this::renew);
        }
    }

    /** Stops the renewal timer. */
    synchronized void close() {
        if (renewal != null) {
            renewal.cancel(false);
        }
    }
}
