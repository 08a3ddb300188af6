"""WeChat Pay protocol client (M11 payouts, M12 integrations): protocol only, no business rules.

A thin async client of our own on httpx + cryptography: both community SDKs are synchronous,
wechatpayv3 has no ``user_recv_style`` and wechatpy has no v3 transfer API. They serve as
test-only interoperability checks against the simulator.

Public surface (import from here):

- :mod:`.outcomes` — :class:`Outcome` and the classifiers: the one decision table shared by
  the payout worker and the simulator.
- :class:`WeChatPayV3Client` / :class:`WeChatPayV3Config` — transfer-bills, brand red
  packets, bills, certificates; typed results in :mod:`.models`.
- :class:`WeChatPayV2Client` / :class:`WeChatPayV2Config` — ``sendredpack``/``gethbinfo``.
- :mod:`.signing`, :mod:`.callbacks`, :mod:`.certificates`, :mod:`.crypto` — signatures,
  callbacks and keys, for receivers and for the simulator's own side.
- :mod:`.bills` — streaming bill readers and writers.
- :mod:`.errors` — every error is a :class:`WeChatPayError` and a kernel ``JinliError``.
"""

from .bills import (
    FundFlowBillReader,
    FundFlowRow,
    FundFlowSummary,
    TradeBillReader,
    TradeBillRow,
    TradeBillSummary,
    format_fund_flow_bill,
    format_trade_bill,
    read_bill,
    read_fund_flow_bill,
    read_trade_bill,
)
from .callbacks import Notification, encrypt_resource, parse_notification
from .certificates import PlatformCertificate, build_certificates_reply, decrypt_certificates
from .client import DEFAULT_BASE_URL, WeChatPayV3Client, WeChatPayV3Config
from .errors import (
    BillError,
    DecryptionError,
    KeyMaterialError,
    MalformedMessage,
    SignatureError,
    WeChatPayCallError,
    WeChatPayError,
)
from .models import (
    BillDownloadInfo,
    BrandRedpacketBatch,
    BrandRedpacketBatchCreate,
    BrandRedpacketDetail,
    BrandRedpacketDetailCreate,
    SceneReportInfo,
    TransferBill,
    TransferBillCancel,
    TransferBillCreate,
    TransferBillDetail,
)
from .outcomes import (
    Outcome,
    classify_brand_detail_state,
    classify_redpack_status,
    classify_transfer_state,
    classify_v2_redpack,
    classify_v3,
)
from .signing import (
    Authorization,
    MerchantSigner,
    PlatformKeys,
    PlatformSigner,
    SignatureVerifier,
    verify_request,
)
from .v2 import (
    RedpackInfo,
    RedpackSent,
    SendRedpackRequest,
    WeChatPayV2Client,
    WeChatPayV2Config,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "Authorization",
    "BillDownloadInfo",
    "BillError",
    "BrandRedpacketBatch",
    "BrandRedpacketBatchCreate",
    "BrandRedpacketDetail",
    "BrandRedpacketDetailCreate",
    "DecryptionError",
    "FundFlowBillReader",
    "FundFlowRow",
    "FundFlowSummary",
    "KeyMaterialError",
    "MalformedMessage",
    "MerchantSigner",
    "Notification",
    "Outcome",
    "PlatformCertificate",
    "PlatformKeys",
    "PlatformSigner",
    "RedpackInfo",
    "RedpackSent",
    "SceneReportInfo",
    "SendRedpackRequest",
    "SignatureError",
    "SignatureVerifier",
    "TradeBillReader",
    "TradeBillRow",
    "TradeBillSummary",
    "TransferBill",
    "TransferBillCancel",
    "TransferBillCreate",
    "TransferBillDetail",
    "WeChatPayCallError",
    "WeChatPayError",
    "WeChatPayV2Client",
    "WeChatPayV2Config",
    "WeChatPayV3Client",
    "WeChatPayV3Config",
    "build_certificates_reply",
    "classify_brand_detail_state",
    "classify_redpack_status",
    "classify_transfer_state",
    "classify_v2_redpack",
    "classify_v3",
    "decrypt_certificates",
    "encrypt_resource",
    "format_fund_flow_bill",
    "format_trade_bill",
    "parse_notification",
    "read_bill",
    "read_fund_flow_bill",
    "read_trade_bill",
    "verify_request",
]
