/* serve/mqtt.c: the MQTT worker (placeholder until the libmosquitto worker lands). */
#include "serve/internal.h"

int serve_mqtt_start(serve_server *s) {
  serve_log(s, "MQTT is not built yet");
  return 1;
}
void serve_mqtt_stop_intake(serve_server *s) { (void)s; }
void serve_mqtt_stop(serve_server *s) { (void)s; }
