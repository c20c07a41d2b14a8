using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Target;

public sealed partial class IscsiConnection
{
    private const int StageSecurity = 0, StageOperational = 1, StageFullFeature = 3;

    private readonly List<KeyValuePair<string, string>> _keys = [];
    private readonly List<KeyValuePair<string, string>> _answer = [];
    private ArrayBufferWriter<byte>? _textAccumulator;
    private bool _loginStarted;
    private bool _discovery;
    private int _stage = -1;
    private uint _loginItt;
    private ushort _cid;
    private string? _authMethod; // null until chosen
    private bool _authenticated;
    private ChapAuthenticator? _chap;
    private bool _sentTpgt;
    private IscsiTarget? _target;
    private int _targetVersion;
    private ScsiNexus _nexus;
    private object? _session; // non-null once registered with the registry
    private IscsiTargetCounters? _counters; // the target's, from login on

    // RFC 7143 §6 Login and §11.12 Login Request.
    private void OnLogin()
    {
        var h = _pdu.Header;
        byte flags = h[1];
        bool transit = (flags & 0x80) != 0, cont = (flags & 0x40) != 0;
        int csg = (flags >> 2) & 3, nsg = flags & 3;

        if (!_loginStarted)
        {
            _loginStarted = true;
            Isid = ReadIsid(h);
            _loginItt = _pdu.InitiatorTaskTag;
            _cid = _pdu.U16(20);
            _expCmdSn = _pdu.U32(24);
            _maxCmdSn = _expCmdSn + (uint)_options.Limits.CommandWindow - 1;
            _statSn = _pdu.U32(28);
            if (h[3] > 0) { LoginFail(LoginStatus.UnsupportedVersion, csg, "version"); return; }
            if (_pdu.U16(14) != 0) { LoginFail(LoginStatus.SessionDoesNotExist, csg, "adding connections is not supported"); return; }
        }
        else if (_pdu.InitiatorTaskTag != _loginItt || ReadIsid(h) != Isid)
        {
            LoginFail(LoginStatus.InitiatorError, csg, "ITT/ISID changed during login");
            return;
        }

        if (csg is not (StageSecurity or StageOperational) || csg < _stage || (transit && (nsg <= csg || nsg == 2)))
        {
            LoginFail(LoginStatus.InitiatorError, csg, "bad stage");
            return;
        }
        _stage = csg;

        // Text spanning several PDUs (C bit): collect, answer with an empty response until the last piece.
        if (cont || _textAccumulator is not null)
        {
            _textAccumulator ??= new ArrayBufferWriter<byte>();
            if (_textAccumulator.WrittenCount + _pdu.DataSegmentLength > _options.MaxTextLength)
            {
                LoginFail(LoginStatus.OutOfResources, csg, "login text too long");
                return;
            }
            foreach (var m in _pdu.Data) _textAccumulator.Write(m.Span);
            if (cont)
            {
                SendLoginResponse(false, csg, 0, LoginStatus.Success, []);
                return;
            }
        }

        _keys.Clear();
        _answer.Clear();
        bool parsed = _textAccumulator is not null
            ? TextKeys.TryParse(_textAccumulator.WrittenSpan, _keys)
            : TextKeys.TryParse(_pdu.Data, _keys);
        _textAccumulator = null;
        if (!parsed || HasDuplicates(_keys)) { LoginFail(LoginStatus.InitiatorError, csg, "malformed keys"); return; }

        // Names first: the target decides which AuthMethod applies (RFC 7143 §13.4, §13.6).
        foreach (var (key, value) in _keys)
        {
            switch (key)
            {
                case "InitiatorName":
                    if (InitiatorName.Length > 0 && !string.Equals(InitiatorName, value, StringComparison.OrdinalIgnoreCase))
                    { LoginFail(LoginStatus.InitiatorError, csg, "InitiatorName changed"); return; }
                    InitiatorName = value.Trim().ToLowerInvariant();
                    // The name reaches the registry, the session list and every log line of the session: no more
                    // than an iSCSI name can be (RFC 7143 §4.2.7.1).
                    if (InitiatorName.Length > 0 && !PeerText.IsAcceptableName(InitiatorName)) { LoginFail(LoginStatus.InitiatorError, csg, "InitiatorName is not an iSCSI name"); return; }
                    break;
                case "TargetName":
                    if (TargetName.Length > 0 && !string.Equals(TargetName, value, StringComparison.OrdinalIgnoreCase))
                    { LoginFail(LoginStatus.InitiatorError, csg, "TargetName changed"); return; }
                    TargetName = value.Trim().ToLowerInvariant();
                    if (TargetName.Length > 0 && !PeerText.IsAcceptableName(TargetName)) { LoginFail(LoginStatus.NotFound, csg, "TargetName is not an iSCSI name"); return; }
                    break;
                case "SessionType":
                    if (value is not ("Normal" or "Discovery")) { LoginFail(LoginStatus.SessionTypeNotSupported, csg, "SessionType"); return; }
                    _discovery = value == "Discovery";
                    _negotiator.Discovery = _discovery;
                    break;
            }
        }

        // First request: who is logging in to what (RFC 7143 §13.4, §13.6).
        if (_target is null && !_discovery && _session is null)
        {
            if (InitiatorName.Length == 0) { LoginFail(LoginStatus.MissingParameter, csg, "InitiatorName missing"); return; }
            if (TargetName.Length == 0) { LoginFail(LoginStatus.MissingParameter, csg, "TargetName missing"); return; }
            _target = _registry.Find(TargetName);
            _targetVersion = _registry.Version;
            if (_target is null) { LoginFail(LoginStatus.NotFound, csg, "no such target"); return; }
            _counters = _registry.CountersFor(_target.Iqn);
            if (!_target.Allows(InitiatorName)) { LoginFail(LoginStatus.AuthorizationFailure, csg, "initiator not allowed"); return; }
        }
        if (_discovery && InitiatorName.Length == 0) { LoginFail(LoginStatus.MissingParameter, csg, "InitiatorName missing"); return; }
        if (!_sentTpgt && _target is not null)
        {
            _sentTpgt = true;
            _answer.Add(new("TargetPortalGroupTag", _target.PortalGroupTag.ToString(CultureInfo.InvariantCulture)));
            if (_target.Alias is { Length: > 0 } alias) _answer.Add(new("TargetAlias", alias));
        }

        var chapKeys = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in _keys)
        {
            switch (key)
            {
                case "InitiatorName" or "TargetName" or "SessionType" or "InitiatorAlias":
                    break;
                case "AuthMethod":
                    if (csg != StageSecurity) { _answer.Add(new(key, TextKeys.Irrelevant)); break; }
                    _authMethod = ChooseAuthMethod(value);
                    _answer.Add(new(key, _authMethod ?? TextKeys.Reject));
                    if (_authMethod is null) { LoginFail(LoginStatus.AuthenticationFailure, csg, "no acceptable AuthMethod", _answer); return; }
                    break;
                case "CHAP_A" or "CHAP_I" or "CHAP_C" or "CHAP_N" or "CHAP_R":
                    chapKeys[key] = value;
                    break;
                case "TargetAlias" or "TargetAddress" or "TargetPortalGroupTag":
                    // Target-declared keys the initiator must not send.
                    _answer.Add(new(key, TextKeys.Reject));
                    break;
                default:
                    if (!_negotiator.TryNegotiate(key, value, _answer)) _answer.Add(new(key, TextKeys.NotUnderstood));
                    break;
            }
        }

        bool chapRequired = !_discovery && _target?.Chap is not null;
        if (csg == StageSecurity)
        {
            if (chapKeys.Count > 0)
            {
                if (_authMethod != "CHAP" || _chap is null) { LoginFail(LoginStatus.AuthenticationFailure, csg, "CHAP keys without AuthMethod=CHAP"); return; }
                var step = _chap.Step(chapKeys, _answer);
                if (step == ChapStep.Failed) { LoginFail(LoginStatus.AuthenticationFailure, csg, _chap.FailureReason ?? "CHAP"); return; }
                if (step == ChapStep.Authenticated) _authenticated = true;
            }
            bool authDone = _authMethod == "CHAP" ? _authenticated : !chapRequired;
            if (transit && !authDone)
            {
                // Still mid-CHAP: stay in the security stage (T=0). Transit without ever choosing CHAP fails.
                if (_authMethod != "CHAP") { LoginFail(LoginStatus.AuthenticationFailure, csg, "authentication required"); return; }
                if (chapKeys.ContainsKey("CHAP_R")) { LoginFail(LoginStatus.AuthenticationFailure, csg, "CHAP incomplete"); return; }
                transit = false;
            }
        }
        else
        {
            if (chapRequired && !_authenticated) { LoginFail(LoginStatus.AuthenticationFailure, csg, "authentication required"); return; }
            if (chapKeys.Count > 0) { LoginFail(LoginStatus.InitiatorError, csg, "CHAP keys outside security stage"); return; }
            _negotiator.DeclareOurs(_answer);
        }

        if (transit && nsg == StageFullFeature) EnterFullFeature(csg);
        else SendLoginResponse(transit, csg, transit ? nsg : 0, LoginStatus.Success, _answer);
    }

    private string? ChooseAuthMethod(string offered)
    {
        var list = offered.Split(',');
        bool chapConfigured = !_discovery && _target?.Chap is not null;
        if (chapConfigured)
        {
            if (!list.Contains("CHAP")) return null;
            _chap = new ChapAuthenticator(_target!.Chap!, _target.MutualChap);
            return "CHAP";
        }
        return list.Contains("None") ? "None" : null;
    }

    private void EnterFullFeature(int csg)
    {
        _negotiator.Complete();
        if (!_discovery)
        {
            Tsih = _registry.NextTsih();
            _nexus = new ScsiNexus(InitiatorName, Isid, TargetName, _target!.PortalGroupTag);
        }
        else Tsih = _registry.NextTsih();
        SendLoginResponse(true, csg, StageFullFeature, LoginStatus.Success, _answer);
        _fullFeature = true;
        _headerDigest = _params.HeaderDigest;
        _dataDigest = _params.DataDigest;
        if (!_discovery)
        {
            _session = this;
            _registry.Attach(this);
            // The target may have been removed or the initiator denied while this login was in flight.
            var now = _registry.Find(TargetName);
            if (now is null || !now.Allows(InitiatorName))
                End(now is null ? SessionEndReason.TargetRemoved : SessionEndReason.AccessRevoked);
        }
        Log.LoggedIn(_log, InitiatorName, _discovery ? "(discovery)" : TargetName, Tsih, _connectionId);
    }

    // RFC 7143 §11.13 Login Response.
    private void SendLoginResponse(bool transit, int csg, int nsg, LoginStatus status, List<KeyValuePair<string, string>> keys)
    {
        var data = keys.Count == 0 ? [] : TextKeys.Serialize(keys);
        var h = Bhs(IscsiOpcode.LoginResponse, (byte)((transit ? 0x80 : 0) | (csg << 2) | nsg), data.Length);
        h[2] = 0; // Version-max
        h[3] = 0; // Version-active
        WriteIsid(h, Isid);
        PduWriter.U16(h, 14, transit && nsg == StageFullFeature && status.IsSuccess ? Tsih : (ushort)0);
        PduWriter.U32(h, 16, _loginItt);
        Sequence();
        h[36] = status.Class;
        h[37] = status.Detail;
        Send(data);
    }

    private void LoginFail(LoginStatus status, int csg, string why, List<KeyValuePair<string, string>>? keys = null)
    {
        Log.LoginRefused(_log, InitiatorName, TargetName, status.Class, status.Detail, why, _connectionId);
        SendLoginResponse(false, csg is 0 or 1 ? csg : 0, 0, status, keys ?? []);
        _closeAfterFlush = true;
    }

    private static bool HasDuplicates(List<KeyValuePair<string, string>> keys)
    {
        for (int i = 1; i < keys.Count; i++)
            for (int j = 0; j < i; j++)
                if (keys[i].Key == keys[j].Key) return true;
        return false;
    }

    private static ulong ReadIsid(byte[] h) => BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(8)) >> 16;

    private static void WriteIsid(Span<byte> h, ulong isid)
    {
        for (int i = 0; i < 6; i++) h[8 + i] = (byte)(isid >> (8 * (5 - i)));
    }
}
