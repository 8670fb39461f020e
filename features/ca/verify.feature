@ca
Feature: Proof of possession of a device CA
  After upload a CA has status false and a verify_code. The owner proves that
  it holds the CA's private key by submitting a verification certificate
  signed by the CA whose subject CN is the verify_code; only then does the CA
  authenticate devices.

  Sources: IoTDA "MQTT(S) Certificate Authentication", step "Verifying a
  Device CA Certificate"; API CheckCertificate
  https://support.huaweicloud.com/intl/en-us/api-iothub/iot_06_v5_0016.html;
  certlab docs/iotda.md §4.3.

  Background:
    Given an uploaded device CA "acme"

  @CA-VERIFY
  Scenario: a verification certificate signed by the CA with the verify code as CN verifies it
    When I prove possession of CA "acme"
    Then the request succeeds
    And CA "acme" is verified

  @CA-VERIFY
  Scenario: a verification certificate with the wrong CN is refused
    When I prove possession of CA "acme" with a verification certificate whose CN is "not-the-verify-code"
    Then the request is refused with HTTP 400 and error code "IOTDA.014307"
    And CA "acme" is unverified

  @CA-VERIFY
  Scenario: a verification certificate signed by another key is refused
    Given a device CA "impostor"
    When I prove possession of CA "acme" with a verification certificate signed by CA "impostor"
    Then the request is refused with HTTP 400 and error code "IOTDA.014307"
    And CA "acme" is unverified

  @CA-VERIFY
  Scenario: a verification certificate issued for another CA's code is refused
    Given an uploaded device CA "other"
    When I prove possession of CA "acme" with the verification certificate of CA "other"
    Then the request is refused with HTTP 400 and error code "IOTDA.014307"
    And CA "acme" is unverified
