@devices
Feature: Only MQTT devices can use X.509 certificates
  A device with auth_type CERTIFICATES can only be registered under a product
  whose protocol_type is MQTT; SECRET devices are allowed under every protocol.

  Sources: IoTDA "MQTT(S) Certificate Authentication" constraints ("Only MQTT
  devices can use X.509 certificates"), IoTDA user guide iot_01_0211;
  API CreateProduct protocol_type values (huaweicloud-sdk-go-v3 AddProduct);
  certlab docs/iotda.md §6 and error code IOTDA.014309 (iotda/types.go).

  @PROTO-MQTT-ONLY
  Scenario Outline: a CERTIFICATES device under a product with protocol_type <protocol> is refused while a SECRET device is accepted
    Given a product with protocol_type "<protocol>"
    When I register a CERTIFICATES device with node_id "cert-1"
    Then the request is refused with HTTP 400 and error code "IOTDA.014309"
    When I register a SECRET device with node_id "secret-1"
    Then the request succeeds

    Examples:
      | protocol |
      | CoAP     |
      | HTTP     |
      | HTTPS    |
      | Modbus   |
      | ONVIF    |
      | OPC-UA   |
      | OPC-DA   |
      | Other    |
      | TCP      |
      | UDP      |

  @PROTO-MQTT-ONLY
  Scenario: a CERTIFICATES device under an MQTT product is accepted
    Given a product with protocol_type "MQTT"
    When I register a CERTIFICATES device with node_id "cert-1"
    Then the request succeeds
    And the device shows auth_type "CERTIFICATES"
