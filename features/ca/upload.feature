@ca
Feature: Uploading device CA certificates
  A device CA certificate is uploaded to the project before any device can
  log in with a certificate it issued. Only a real CA certificate is accepted:
  parseable X.509, basicConstraints CA:TRUE, keyCertSign, inside its validity,
  and a key within certlab's stated key policy (IoTDA documents none): RSA
  2048..8192 bits, ECDSA P-256/P-384/P-521 or Ed25519.

  Sources: IoTDA "MQTT(S) Certificate Authentication", step "Uploading a Device
  CA Certificate"; API AddCertificate
  https://support.huaweicloud.com/intl/en-us/api-iothub/iot_06_v5_0014.html;
  certlab docs/iotda.md §4.1, §4.2 and §4.4.

  @CA-UPLOAD
  Scenario: a valid device CA certificate is accepted and starts unverified
    Given a device CA "acme"
    When I upload CA "acme"
    Then the request succeeds
    And CA "acme" is shown with its CN, its owner, a verify code, status false and its validity dates

  @CA-UPLOAD
  Scenario: an uploaded CA can be shown with its content
    Given an uploaded device CA "acme"
    When I show CA "acme"
    Then the request succeeds
    And the shown content is the PEM of CA "acme"

  @CA-VALID
  Scenario Outline: uploading <content> as a device CA is refused
    When I upload <content> as a device CA
    Then the request is refused with HTTP 400 and error code "IOTDA.014301"
    And the error message mentions one of "<mentions>"

    Examples:
      | content                                 | mentions                                    |
      | an end-entity certificate (CA:FALSE)    | CA:FALSE\|basicConstraints\|not a CA         |
      | a CA certificate without keyCertSign    | keyCertSign\|key usage\|KeyUsage             |
      | an expired CA certificate               | expired\|validity\|NotAfter                  |
      | a CA certificate that is not yet valid  | not yet valid\|validity\|NotBefore           |
      | garbage inside a PEM block              | parse\|X.509\|x509\|malformed\|DER           |
      | text that is not PEM at all             | PEM\|parse                                  |

  @CA-VALID
  Scenario Outline: a device CA with a <key> key is accepted
    Given a device CA "acme" with a "<key>" key
    When I upload CA "acme"
    Then the request succeeds

    Examples:
      | key        |
      | rsa-2048   |
      | ecdsa-p256 |
      | ecdsa-p384 |
      | ecdsa-p521 |
      | ed25519    |

  @CA-VALID
  Scenario Outline: a device CA with a <key> key is refused, naming the key
    When I upload a device CA with a "<key>" key
    Then the request is refused with HTTP 400 and error code "IOTDA.014301"
    And the error message mentions one of "<mentions>"

    Examples:
      | key        | mentions                                                |
      | rsa-1024   | RSA 1024-bit key: device CA keys must be RSA 2048..8192  |
      | ecdsa-p224 | ECDSA P-224 key: device CA keys must be                  |
      | rsa-16384  | RSA 16384-bit key: device CA keys must be                |

  @CA-DUPLICATE
  Scenario: the same CA cannot be uploaded twice in a project
    Given an uploaded device CA "acme"
    When I upload CA "acme"
    Then the request is refused with HTTP 400 and error code "IOTDA.014303"
    And the project lists CA "acme" exactly once

  @CA-DUPLICATE
  Scenario: a verified CA cannot be uploaded again either
    Given a verified device CA "acme"
    When I upload CA "acme"
    Then the request is refused with HTTP 400 and error code "IOTDA.014303"
    And CA "acme" is verified

  @CA-DUPLICATE @reference
  Scenario: the same CA may be uploaded in another project
    Given an uploaded device CA "acme"
    And a fresh project
    When I upload CA "acme"
    Then the request succeeds
