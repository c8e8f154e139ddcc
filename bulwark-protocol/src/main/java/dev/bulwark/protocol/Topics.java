package dev.bulwark.protocol;

/**
 * The device topic namespace. The tenant is implied by the authenticated identity and never appears in
 * a topic; every topic a device may use starts with {@code devices/{its own id}/}.
 */
public final class Topics {
    public static final String PREFIX = "devices/";

    private Topics() {
    }

    public static String telemetry(DeviceId device) {
        return PREFIX + device.value() + "/telemetry";
    }

    public static String events(DeviceId device) {
        return PREFIX + device.value() + "/events";
    }

    public static String configReported(DeviceId device) {
        return PREFIX + device.value() + "/config/reported";
    }

    public static String configDesired(DeviceId device) {
        return PREFIX + device.value() + "/config/desired";
    }

    public static String commands(DeviceId device) {
        return PREFIX + device.value() + "/commands";
    }

    public static String commandResult(DeviceId device, String commandId) {
        return PREFIX + device.value() + "/commands/" + commandId + "/result";
    }

    public static String firmware(DeviceId device) {
        return PREFIX + device.value() + "/firmware";
    }
}
