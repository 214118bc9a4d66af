/** Joining the Wi-Fi on NodeMCU: the ESP8266 and ESP32 firmwares name their calls differently, told apart at run time. */
import { BoardConfig } from "../core/config";

/** Station/AP calls differ between the ESP8266 and ESP32 firmwares: checked at run time. */
declare const wifi: any;
declare function print(this: void, line: string): void;

export function joinWifi(cfg: BoardConfig): void {
  const w = cfg.wifi;
  if (w === undefined) return; // the network is already up (or set up by the user's own init.lua)
  const pwd = w.password !== "" ? w.password : undefined;
  if (wifi.setmode !== undefined) {
    // ESP8266 firmware
    if (w.ap) {
      wifi.setmode(wifi.SOFTAP);
      wifi.ap.config({ ssid: w.ssid, pwd: pwd, auth: pwd !== undefined ? wifi.WPA2_PSK : wifi.OPEN, save: false });
      print("mqtt: access point " + w.ssid + " at " + wifi.ap.getip());
      return;
    }
    wifi.setmode(wifi.STATION);
    if (w.hostname !== "") wifi.sta.sethostname(w.hostname);
    wifi.eventmon.register(wifi.eventmon.STA_GOT_IP, (t: any) => print("mqtt: wifi up " + t.IP));
    wifi.sta.config({ ssid: w.ssid, pwd: pwd, auto: true, save: false });
    return;
  }
  // ESP32 firmware
  if (w.ap) {
    wifi.mode(wifi.SOFTAP);
    wifi.ap.config({ ssid: w.ssid, pwd: pwd, auth: pwd !== undefined ? wifi.AUTH_WPA2_PSK : wifi.AUTH_OPEN }, false);
    wifi.start();
    print("mqtt: access point " + w.ssid);
    return;
  }
  wifi.mode(wifi.STATION);
  wifi.start();
  if (w.hostname !== "") wifi.sta.sethostname(w.hostname);
  wifi.sta.on("got_ip", (_ev: any, info: any) => print("mqtt: wifi up " + info.ip));
  wifi.sta.config({ ssid: w.ssid, pwd: pwd, auto: true }, false);
}
