using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Cairn.Iscsi.Protocol;

namespace Cairn.Bench;

/// <summary>
/// A small iSCSI initiator for the write benchmark and the idle-session memory figure: one TCP connection, one
/// session, login without authentication, then WRITE(10) with a fixed queue depth. Speaks only what the bench needs
/// (SCSI Command with immediate data, R2T/Data-Out, SCSI Response, NOP-In ping answers); anything else ends the run.
/// </summary>
internal sealed class BenchInitiator : IDisposable
{
    private const uint Reserved = 0xFFFFFFFF;
    private readonly Socket _socket;
    private readonly byte[] _bhs = new byte[Pdu.BhsLength];
    private readonly ArrayBufferWriter<byte> _out = new(1 << 20);
    private byte[] _in = new byte[1 << 20];
    private int _inStart, _inEnd;
    private readonly Pdu _pdu = new();
    private readonly ulong _lun;
    private uint _cmdSn = 1, _expStatSn, _maxCmdSn = 1, _itt = 1;

    /// <summary>What the target agreed to (RFC 7143 §13).</summary>
    public bool ImmediateData { get; private set; } = true;
    public bool InitialR2T { get; private set; } = true;
    public int FirstBurstLength { get; private set; } = 65536;
    public int MaxBurstLength { get; private set; } = 262144;
    /// <summary>The target's MaxRecvDataSegmentLength: the largest immediate or Data-Out segment we may send.</summary>
    public int TargetMaxRecvDataSegmentLength { get; private set; } = 8192;

    public string Negotiated => string.Create(CultureInfo.InvariantCulture,
        $"ImmediateData={(ImmediateData ? "Yes" : "No")} InitialR2T={(InitialR2T ? "Yes" : "No")} FirstBurstLength={FirstBurstLength} MaxBurstLength={MaxBurstLength} target MaxRecvDataSegmentLength={TargetMaxRecvDataSegmentLength}");

    private BenchInitiator(Socket socket, int lun)
    {
        _socket = socket;
        _lun = (ulong)lun << 48; // SAM-5 peripheral addressing, single level
    }

    /// <summary>Connects and logs in (security stage with AuthMethod=None, then operational negotiation).</summary>
    public static BenchInitiator Login(int port, string targetIqn, string initiatorIqn, int lun, uint isidQualifier)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
        {
            NoDelay = true,
            ReceiveTimeout = 15000,
            SendTimeout = 15000,
        };
        var init = new BenchInitiator(s, lun);
        try
        {
            s.Connect(new IPEndPoint(IPAddress.Loopback, port));
            init.DoLogin(targetIqn, initiatorIqn, isidQualifier);
            return init;
        }
        catch
        {
            init.Dispose();
            throw;
        }
    }

    // RFC 7143 §6.3 and §11.12 Login Request.
    private void DoLogin(string targetIqn, string initiatorIqn, uint isidQualifier)
    {
        var security = new List<KeyValuePair<string, string>>
        {
            new("InitiatorName", initiatorIqn),
            new("TargetName", targetIqn),
            new("SessionType", "Normal"),
            new("AuthMethod", "None"),
        };
        // Offer the fast settings; each target answers with what it allows (InitialR2T is OR, ImmediateData AND).
        var operational = new List<KeyValuePair<string, string>>
        {
            new("HeaderDigest", "None"),
            new("DataDigest", "None"),
            new("MaxConnections", "1"),
            new("InitialR2T", "No"),
            new("ImmediateData", "Yes"),
            new("MaxRecvDataSegmentLength", "262144"),
            new("MaxBurstLength", "16776192"),
            new("FirstBurstLength", "262144"),
            new("DefaultTime2Wait", "0"),
            new("DefaultTime2Retain", "0"),
            new("MaxOutstandingR2T", "1"),
            new("DataPDUInOrder", "Yes"),
            new("DataSequenceInOrder", "Yes"),
            new("ErrorRecoveryLevel", "0"),
        };
        int csg = 0;
        var keys = security;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(15))
        {
            int nsg = csg == 0 ? 1 : 3;
            var data = TextKeys.Serialize(keys);
            Array.Clear(_bhs);
            _bhs[0] = 0x40 | (byte)IscsiOpcode.LoginRequest;
            _bhs[1] = (byte)(0x80 | (csg << 2) | nsg);
            PduWriter.SetDataLength(_bhs, data.Length);
            _bhs[8] = 0x80; // ISID type 2 (random), then qualifiers that keep our sessions apart
            BinaryPrimitives.WriteUInt32BigEndian(_bhs.AsSpan(10), isidQualifier);
            PduWriter.U32(_bhs, 16, 0x10000 + isidQualifier);
            PduWriter.U32(_bhs, 24, _cmdSn);
            PduWriter.U32(_bhs, 28, _expStatSn);
            PduWriter.Frame(_out, _bhs, data, false, false);
            FlushOut();

            ReadPdu();
            if (_pdu.Opcode != IscsiOpcode.LoginResponse) throw new IOException($"login: unexpected opcode 0x{(byte)_pdu.Opcode:x2}");
            var h = _pdu.Header;
            if (h[36] != 0) throw new IOException($"login refused: status class {h[36]} detail {h[37]}");
            _expStatSn = _pdu.U32(24) + 1;
            _maxCmdSn = _pdu.U32(32);
            var answer = new List<KeyValuePair<string, string>>();
            if (!TextKeys.TryParse(_pdu.Data, answer)) throw new IOException("login: malformed keys");
            foreach (var (k, v) in answer) Apply(k, v);
            bool transit = (h[1] & 0x80) != 0;
            int rNsg = h[1] & 3;
            if (transit && rNsg == 3) return;
            if (transit && rNsg == 1) { csg = 1; keys = operational; }
            else keys = []; // the target wants another round in the same stage
        }
        throw new IOException("login did not complete in 15 s");
    }

    private void Apply(string key, string value)
    {
        static int Num(string v) => int.Parse(v, CultureInfo.InvariantCulture);
        switch (key)
        {
            case "ImmediateData": ImmediateData = value == "Yes"; break;
            case "InitialR2T": InitialR2T = value == "Yes"; break;
            case "FirstBurstLength": FirstBurstLength = Num(value); break;
            case "MaxBurstLength": MaxBurstLength = Num(value); break;
            case "MaxRecvDataSegmentLength": TargetMaxRecvDataSegmentLength = Num(value); break;
            case "HeaderDigest" or "DataDigest" when value != "None":
                throw new IOException($"target insists on {key}={value}");
        }
    }

    /// <summary>Result of a timed write run.</summary>
    public readonly record struct WriteResult(long Commands, double Seconds, long Bytes, long R2Ts)
    {
        public double Iops => Commands / Seconds;
        public double MiBps => Bytes / Seconds / (1 << 20);
    }

    /// <summary>
    /// WRITE(10) of <paramref name="blocks"/> 512-byte blocks with <paramref name="depth"/> commands in flight for
    /// <paramref name="duration"/>; LBAs random (aligned to the transfer) or sequential, wrapping at the capacity.
    /// </summary>
    public WriteResult RunWrites(int blocks, int depth, bool random, long capacityBlocks, TimeSpan duration)
    {
        int length = blocks * 512;
        var payload = new byte[length];
        new Random(7).NextBytes(payload);
        long slots = capacityBlocks / blocks;
        var rnd = new Random(11);
        long nextSeq = 0, done = 0, r2ts = 0;
        int inFlight = 0;
        bool stopping = false;
        // Per ITT: nothing to remember but that it is ours; R2T carries offset and length.
        var sw = Stopwatch.StartNew();

        void Issue()
        {
            long slot = random ? rnd.NextInt64(slots) : nextSeq++ % slots;
            uint lba = (uint)(slot * blocks);
            int immediate = ImmediateData ? Math.Min(length, Math.Min(FirstBurstLength, TargetMaxRecvDataSegmentLength)) : 0;
            Array.Clear(_bhs);
            _bhs[0] = (byte)IscsiOpcode.ScsiCommand;
            _bhs[1] = 0x80 | 0x20 | 0x01; // F, W, ATTR=simple; no unsolicited Data-Out follows
            PduWriter.SetDataLength(_bhs, immediate);
            PduWriter.U64(_bhs, 8, _lun);
            PduWriter.U32(_bhs, 16, _itt++);
            PduWriter.U32(_bhs, 20, (uint)length);
            PduWriter.U32(_bhs, 24, _cmdSn++);
            PduWriter.U32(_bhs, 28, _expStatSn);
            // SBC-3 §5.40 WRITE(10)
            _bhs[32] = 0x2A;
            BinaryPrimitives.WriteUInt32BigEndian(_bhs.AsSpan(34), lba);
            BinaryPrimitives.WriteUInt16BigEndian(_bhs.AsSpan(39), (ushort)blocks);
            PduWriter.Frame(_out, _bhs, payload.AsSpan(0, immediate), false, false);
            inFlight++;
        }

        bool WindowOpen() => (int)(_cmdSn - _maxCmdSn) <= 0;

        while (inFlight < depth && WindowOpen()) Issue();
        FlushOut();
        var deadline = duration + TimeSpan.FromSeconds(15);
        while (inFlight > 0)
        {
            if (sw.Elapsed > deadline) throw new IOException("writes did not drain");
            ReadPdu();
            switch (_pdu.Opcode)
            {
                case IscsiOpcode.ScsiResponse:
                    {
                        var h = _pdu.Header;
                        if (h[2] != 0 || h[3] != 0) throw new IOException($"WRITE failed: response {h[2]} status 0x{h[3]:x2}{SenseText()}");
                        Sequence();
                        inFlight--;
                        done++;
                        if (!stopping && sw.Elapsed >= duration) stopping = true;
                        break;
                    }
                case IscsiOpcode.ReadyToTransfer:
                    {
                        // RFC 7143 §11.8: send [offset, offset+length) in segments of at most the target's MRDSL.
                        r2ts++;
                        uint itt = _pdu.InitiatorTaskTag, ttt = _pdu.U32(20);
                        int offset = (int)_pdu.U32(40), want = (int)_pdu.U32(44);
                        UpdateMaxCmdSn(_pdu.U32(32));
                        uint dataSn = 0;
                        for (int sent = 0; sent < want;)
                        {
                            int n = Math.Min(TargetMaxRecvDataSegmentLength, want - sent);
                            Array.Clear(_bhs);
                            _bhs[0] = (byte)IscsiOpcode.DataOut;
                            _bhs[1] = (byte)(sent + n == want ? 0x80 : 0);
                            PduWriter.SetDataLength(_bhs, n);
                            PduWriter.U64(_bhs, 8, _lun);
                            PduWriter.U32(_bhs, 16, itt);
                            PduWriter.U32(_bhs, 20, ttt);
                            PduWriter.U32(_bhs, 28, _expStatSn);
                            PduWriter.U32(_bhs, 36, dataSn++);
                            PduWriter.U32(_bhs, 40, (uint)(offset + sent));
                            PduWriter.Frame(_out, _bhs, payload.AsSpan(offset + sent, n), false, false);
                            sent += n;
                        }
                        break;
                    }
                case IscsiOpcode.NopIn:
                    AnswerPing();
                    break;
                default:
                    throw new IOException($"unexpected PDU 0x{(byte)_pdu.Opcode:x2} during writes");
            }
            if (!stopping)
                while (inFlight < depth && WindowOpen()) Issue();
            // Batch: flush only when nothing more is already buffered from the target.
            if (!HasBufferedPdu()) FlushOut();
        }
        sw.Stop();
        return new WriteResult(done, sw.Elapsed.TotalSeconds, done * length, r2ts);
    }

    /// <summary>
    /// TEST UNIT READY until GOOD (at most 5 tries), so the unit attention a new I_T nexus gets (power on / reset,
    /// SPC-4 §5.14) is consumed before the timed run.
    /// </summary>
    public void ClearUnitAttention()
    {
        for (int attempt = 0; attempt < 5; attempt++)
        {
            Array.Clear(_bhs);
            _bhs[0] = (byte)IscsiOpcode.ScsiCommand;
            _bhs[1] = 0x80 | 0x01;
            PduWriter.U64(_bhs, 8, _lun);
            PduWriter.U32(_bhs, 16, _itt++);
            PduWriter.U32(_bhs, 24, _cmdSn++);
            PduWriter.U32(_bhs, 28, _expStatSn);
            PduWriter.Frame(_out, _bhs, default, false, false);
            FlushOut();
            do ReadPdu(); while (_pdu.Opcode == IscsiOpcode.NopIn);
            if (_pdu.Opcode != IscsiOpcode.ScsiResponse) throw new IOException($"TEST UNIT READY: unexpected PDU 0x{(byte)_pdu.Opcode:x2}");
            Sequence();
            if (_pdu.Header[2] == 0 && _pdu.Header[3] == 0) return;
        }
        throw new IOException($"TEST UNIT READY keeps failing{SenseText()}");
    }

    /// <summary>Sense key/ASC/ASCQ of the current SCSI Response, for error messages.</summary>
    private string SenseText()
    {
        if (_pdu.Data.Length < 2 + 14) return "";
        var d = new byte[(int)_pdu.Data.Length];
        _pdu.Data.CopyTo(d);
        var s = d.AsSpan(2);
        // SPC-4 §4.5.2 descriptor format (72h/73h) or §4.5.3 fixed format (70h/71h).
        bool desc = (s[0] & 0x7F) >= 0x72;
        int key = desc ? s[1] & 0x0F : s[2] & 0x0F, asc = desc ? s[2] : s[12], ascq = desc ? s[3] : s[13];
        return $", sense key {key:x} ASC/ASCQ {asc:x2}/{ascq:x2}";
    }

    /// <summary>StatSN/ExpCmdSN/MaxCmdSN of a status-bearing PDU.</summary>
    private void Sequence()
    {
        _expStatSn = _pdu.U32(24) + 1;
        UpdateMaxCmdSn(_pdu.U32(32));
    }

    private void UpdateMaxCmdSn(uint max)
    {
        if ((int)(max - _maxCmdSn) > 0) _maxCmdSn = max;
    }

    // RFC 7143 §11.19: a NOP-In with a TTT other than 0xFFFFFFFF wants a NOP-Out back.
    private void AnswerPing()
    {
        uint ttt = _pdu.U32(20);
        if (ttt == Reserved) return;
        Array.Clear(_bhs);
        _bhs[0] = 0x40 | (byte)IscsiOpcode.NopOut;
        _bhs[1] = 0x80;
        PduWriter.U64(_bhs, 8, _pdu.Lun);
        PduWriter.U32(_bhs, 16, Reserved);
        PduWriter.U32(_bhs, 20, ttt);
        PduWriter.U32(_bhs, 24, _cmdSn);
        PduWriter.U32(_bhs, 28, _expStatSn);
        PduWriter.Frame(_out, _bhs, default, false, false);
    }

    private void FlushOut()
    {
        var span = _out.WrittenMemory;
        int sent = 0;
        while (sent < span.Length) sent += _socket.Send(span.Span[sent..]);
        _out.ResetWrittenCount();
    }

    private bool HasBufferedPdu()
    {
        int avail = _inEnd - _inStart;
        if (avail < Pdu.BhsLength) return false;
        var h = _in.AsSpan(_inStart);
        int dsl = (h[5] << 16) | (h[6] << 8) | h[7];
        return avail >= Pdu.BhsLength + (h[4] * 4) + ((dsl + 3) & ~3);
    }

    /// <summary>Reads one whole PDU into <see cref="_pdu"/> (its data valid until the next read).</summary>
    private void ReadPdu()
    {
        while (true)
        {
            var seq = new ReadOnlySequence<byte>(_in, _inStart, _inEnd - _inStart);
            var status = PduParser.TryParse(ref seq, new PduLimits(1 << 24, false, false), _pdu, out var error);
            if (status == ParseStatus.Complete)
            {
                _inStart = _inEnd - (int)seq.Length;
                return;
            }
            if (status == ParseStatus.Error) throw new IOException($"bad PDU from target: {error}");
            if (_inStart > 0)
            {
                Buffer.BlockCopy(_in, _inStart, _in, 0, _inEnd - _inStart);
                _inEnd -= _inStart;
                _inStart = 0;
            }
            if (_inEnd == _in.Length) Array.Resize(ref _in, _in.Length * 2);
            int n = _socket.Receive(_in, _inEnd, _in.Length - _inEnd, SocketFlags.None);
            if (n == 0) throw new IOException("target closed the connection");
            _inEnd += n;
        }
    }

    /// <summary>RFC 7143 §11.14 Logout (close the session), bounded by the socket timeouts; errors ignored.</summary>
    public void Logout()
    {
        try
        {
            Array.Clear(_bhs);
            _bhs[0] = 0x40 | (byte)IscsiOpcode.LogoutRequest;
            _bhs[1] = 0x80;
            PduWriter.U32(_bhs, 16, _itt++);
            PduWriter.U32(_bhs, 24, _cmdSn);
            PduWriter.U32(_bhs, 28, _expStatSn);
            PduWriter.Frame(_out, _bhs, default, false, false);
            FlushOut();
            _socket.ReceiveTimeout = 2000;
            ReadPdu();
        }
        catch (IOException) { }
        catch (SocketException) { }
    }

    public void Dispose() => _socket.Dispose();
}
