using System.Buffers;
using System.Globalization;
using Cairn.Iscsi.Protocol;

namespace Cairn.Iscsi.Target;

public sealed partial class IscsiConnection
{
    private byte[]? _textPending;   // rest of a long Text Response (C bit), RFC 7143 §11.11
    private int _textPendingOffset;
    private uint _textTtt = Reserved;
    private ArrayBufferWriter<byte>? _textRequest;

    // RFC 7143 §11.18 NOP-Out / §11.19 NOP-In.
    private void OnNopOut()
    {
        uint itt = _pdu.InitiatorTaskTag;
        if (itt == Reserved)
        {
            // A reply to our ping, or a ping that wants no answer; must be immediate.
            if (!_pdu.Immediate) ProtocolError("NOP-Out with reserved ITT must be immediate");
            else if (_pdu.U32(20) == _pingTtt) _pingTtt = Reserved;
            return;
        }
        if (!AcceptCmdSn(_pdu.U32(24), _pdu.Immediate)) return;
        int len = (int)Math.Min(_pdu.Data.Length, _params.InitiatorMaxRecvDataSegmentLength);
        var h = Bhs(IscsiOpcode.NopIn, 0x80, len);
        PduWriter.U64(h, 8, _pdu.Lun);
        PduWriter.U32(h, 16, itt);
        PduWriter.U32(h, 20, Reserved);
        Sequence();
        if (len == 0) { Send(); return; }
        var data = _pdu.Data.Slice(0, len);
        if (data.IsSingleSegment) { Send(data.FirstSpan); return; }
        var tmp = ArrayPool<byte>.Shared.Rent(len);
        data.CopyTo(tmp);
        Send(tmp.AsSpan(0, len));
        ArrayPool<byte>.Shared.Return(tmp);
    }

    // RFC 7143 §11.5 Task Management Function Request / §11.6 Response.
    private void OnTaskManagement()
    {
        if (!AcceptCmdSn(_pdu.U32(24), _pdu.Immediate)) return;
        int function = _pdu.Flags & 0x7F;
        ulong rawLun = _pdu.Lun;
        int lun = DecodeLun(rawLun);
        uint refItt = _pdu.U32(20);
        RefreshTarget();
        byte response;
        switch (function)
        {
            case 1: // ABORT TASK
                response = AbortWrites(w => w.Itt == refItt) > 0 ? (byte)0 : (byte)1;
                break;
            case 2 or 4: // ABORT TASK SET, CLEAR TASK SET
                AbortWrites(w => w.Lun == lun);
                response = 0;
                break;
            case 3: // CLEAR ACA: we never establish ACA
                response = 0;
                break;
            case 5: // LOGICAL UNIT RESET
                if (_discovery || lun < 0 || !_target!.Luns.TryGetValue(lun, out var unit)) { response = 2; break; }
                AbortWrites(w => w.Lun == lun);
                try { unit.Reset(_nexus, false); response = 0; }
                catch (Exception ex) when (ex is not OutOfMemoryException) { Log.UnitFailed(_log, ex, TargetName, lun); response = 255; }
                break;
            case 6 or 7: // TARGET WARM / COLD RESET
                if (_discovery) { response = 5; break; }
                AbortWrites(_ => true);
                response = 0;
                foreach (var (n, u) in _target!.Luns)
                {
                    try { u.Reset(_nexus, true); }
                    catch (Exception ex) when (ex is not OutOfMemoryException) { Log.UnitFailed(_log, ex, TargetName, n); response = 255; }
                }
                if (function == 7)
                {
                    // RFC 7143 §11.5.1: on a cold reset the target closes all of its TCP connections to all initiators
                    // of this target, not just the one that asked (libiscsi's PreventAllow.2ITNexuses relies on it).
                    _closeAfterFlush = true;
                    foreach (var other in _registry.SessionsOf(TargetName))
                        if (!ReferenceEquals(other, this)) other.End(SessionEndReason.TargetColdReset);
                }
                break;
            case 8: // TASK REASSIGN needs ERL 2
                response = 4;
                break;
            default:
                response = 5;
                break;
        }
        var h = Bhs(IscsiOpcode.TaskManagementResponse, 0x80, 0);
        h[2] = response;
        PduWriter.U32(h, 16, _pdu.InitiatorTaskTag);
        Sequence();
        Send();
    }

    // RFC 7143 §11.10 Text Request / §11.11 Text Response; SendTargets per §13.6 and Appendix C.
    private void OnText()
    {
        if (!AcceptCmdSn(_pdu.U32(24), _pdu.Immediate)) return;
        uint ttt = _pdu.U32(20);
        bool cont = (_pdu.Flags & 0x40) != 0;
        // A TTT we handed out continues either our long answer or the initiator's own multi-PDU request.
        if (ttt != Reserved && _textRequest is null)
        {
            if (ttt != _textTtt || _textPending is null) { SendReject(RejectReason.InvalidPduField); return; }
            SendTextChunk();
            return;
        }
        _textPending = null;
        _textRequest ??= new ArrayBufferWriter<byte>();
        if (_textRequest.WrittenCount + _pdu.DataSegmentLength > _options.MaxTextLength) { ProtocolError("text request too long"); return; }
        foreach (var m in _pdu.Data) _textRequest.Write(m.Span);
        if (cont)
        {
            SendTextResponse([], final: false, ttt: NextTextTtt());
            return;
        }
        _keys.Clear();
        _answer.Clear();
        bool ok = TextKeys.TryParse(_textRequest.WrittenSpan, _keys);
        _textRequest = null;
        if (!ok) { SendReject(RejectReason.ProtocolError); return; }
        var w = new ArrayBufferWriter<byte>();
        foreach (var (key, value) in _keys)
        {
            switch (key)
            {
                case "SendTargets":
                    AppendSendTargets(w, value);
                    break;
                case "MaxRecvDataSegmentLength":
                    // Declarative and allowed in full feature phase (§13.12).
                    if (ParameterNegotiator.TryNumber(value, 512, 16777215, out var v)) _params.InitiatorMaxRecvDataSegmentLength = (int)v;
                    TextKeys.Append(w, key, _options.Limits.MaxRecvDataSegmentLength.ToString(CultureInfo.InvariantCulture));
                    break;
                default:
                    TextKeys.Append(w, key, key.StartsWith("X-", StringComparison.Ordinal) || key.StartsWith("X#", StringComparison.Ordinal)
                        ? TextKeys.NotUnderstood : TextKeys.Irrelevant);
                    break;
            }
        }
        _textPending = w.WrittenSpan.ToArray();
        _textPendingOffset = 0;
        SendTextChunk();
    }

    private void AppendSendTargets(ArrayBufferWriter<byte> w, string value)
    {
        IEnumerable<IscsiTarget> targets;
        if (value == "All") targets = _registry.VisibleTo(InitiatorName);
        else if (value.Length == 0)
        {
            // Empty value: the session's own target (normal sessions only).
            targets = !_discovery && _registry.Find(TargetName) is { } self ? [self] : [];
        }
        else targets = _registry.Find(value) is { } t && t.Allows(InitiatorName) ? [t] : [];

        foreach (var t in targets)
        {
            TextKeys.Append(w, "TargetName", t.Iqn);
            TextKeys.Append(w, "TargetAddress", $"{_portal},{t.PortalGroupTag.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    private uint NextTextTtt() => _textTtt = NewTtt();

    private void SendTextChunk()
    {
        var all = _textPending!;
        int max = _params.InitiatorMaxRecvDataSegmentLength;
        int len = Math.Min(max, all.Length - _textPendingOffset);
        bool final = _textPendingOffset + len == all.Length;
        var chunk = all.AsSpan(_textPendingOffset, len);
        _textPendingOffset += len;
        if (final) _textPending = null;
        SendTextResponse(chunk, final, final ? Reserved : NextTextTtt());
    }

    private void SendTextResponse(ReadOnlySpan<byte> data, bool final, uint ttt)
    {
        var h = Bhs(IscsiOpcode.TextResponse, (byte)(final ? 0x80 : 0x40), data.Length);
        PduWriter.U64(h, 8, _pdu.Lun);
        PduWriter.U32(h, 16, _pdu.InitiatorTaskTag);
        PduWriter.U32(h, 20, ttt);
        Sequence();
        Send(data);
    }

    // RFC 7143 §11.14 Logout Request / §11.15 Logout Response.
    private void OnLogout()
    {
        if (!AcceptCmdSn(_pdu.U32(24), _pdu.Immediate)) return;
        int reason = _pdu.Flags & 0x7F;
        byte response = reason switch
        {
            0 => 0,
            1 => _pdu.U16(20) == _cid ? (byte)0 : (byte)1,
            2 => 2,
            _ => 3,
        };
        var h = Bhs(IscsiOpcode.LogoutResponse, 0x80, 0);
        h[2] = response;
        PduWriter.U32(h, 16, _pdu.InitiatorTaskTag);
        Sequence();
        Send();
        if (response == 0)
        {
            Log.LoggedOut(_log, InitiatorName, _discovery ? "(discovery)" : TargetName);
            _closeAfterFlush = true;
        }
    }
}
