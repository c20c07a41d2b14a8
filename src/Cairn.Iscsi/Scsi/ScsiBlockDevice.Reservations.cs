using System.Buffers.Binary;
using System.Text;

namespace Cairn.Iscsi.Scsi;

public sealed partial class ScsiBlockDevice
{
    // Reservations: SPC-2 RESERVE/RELEASE and SPC-4 §5.13 persistent reservations. All state under _resGate;
    // the command path only reads _reservationActive unless a reservation exists.
    private readonly Lock _resGate = new();
    private volatile int _reservationActive;
    private ScsiNexus? _legacyHolder;
    private readonly List<(ScsiNexus Nexus, ulong Key)> _registrations = [];
    private ScsiNexus? _prHolder;
    private byte _prType;
    private uint _prGeneration;

    private const byte WriteExclusive = 1, ExclusiveAccess = 3, WriteExclusiveRegistrantsOnly = 5,
        ExclusiveAccessRegistrantsOnly = 6, WriteExclusiveAllRegistrants = 7, ExclusiveAccessAllRegistrants = 8;

    private static bool AllRegistrants(byte type) => type is WriteExclusiveAllRegistrants or ExclusiveAccessAllRegistrants;
    private static bool RegistrantsOnly(byte type) => type is WriteExclusiveRegistrantsOnly or ExclusiveAccessRegistrantsOnly;
    private static bool ExclusiveAccessType(byte type) => type is ExclusiveAccess or ExclusiveAccessRegistrantsOnly or ExclusiveAccessAllRegistrants;

    private void UpdateActive() => _reservationActive = _legacyHolder is not null || _prType != 0 ? 1 : 0;

    private int IndexOfRegistration(in ScsiNexus nexus)
    {
        for (int i = 0; i < _registrations.Count; i++) if (_registrations[i].Nexus.Equals(nexus)) return i;
        return -1;
    }

    private enum AccessClass { Always, Read, Write }

    private static AccessClass Classify(byte op, ReadOnlySpan<byte> cdb) => op switch
    {
        ScsiOp.Inquiry or ScsiOp.ReportLuns or ScsiOp.RequestSense or ScsiOp.MaintenanceIn
            or ScsiOp.PersistentReserveIn or ScsiOp.PersistentReserveOut or ScsiOp.TestUnitReady
            or ScsiOp.ReadCapacity10 => AccessClass.Always,
        ScsiOp.ServiceActionIn16 => (cdb[1] & 0x1F) == ScsiOp.SaReadCapacity16 ? AccessClass.Always : AccessClass.Read,
        ScsiOp.Read6 or ScsiOp.Read10 or ScsiOp.Read12 or ScsiOp.Read16 or ScsiOp.Verify10 or ScsiOp.Verify12
            or ScsiOp.Verify16 or ScsiOp.PreFetch10 or ScsiOp.PreFetch16 or ScsiOp.ModeSense6 or ScsiOp.ModeSense10
            or ScsiOp.ReadDefectData10 or ScsiOp.ReadDefectData12 or ScsiOp.ReceiveCopyResults => AccessClass.Read,
        _ => AccessClass.Write,
    };

    // SPC-4 §5.13.1 (SPC-2 reservations) and table 37 (persistent reservation types vs. commands).
    private bool ReservationConflicts(byte op, ReadOnlySpan<byte> cdb, in ScsiNexus nexus)
    {
        lock (_resGate)
        {
            if (_legacyHolder is { } holder && !holder.Equals(nexus))
                return op is not (ScsiOp.Inquiry or ScsiOp.ReportLuns or ScsiOp.RequestSense or ScsiOp.MaintenanceIn
                    or ScsiOp.Release6 or ScsiOp.Release10);
            if (_prType == 0) return false;
            if (op is ScsiOp.Reserve6 or ScsiOp.Reserve10 or ScsiOp.Release6 or ScsiOp.Release10) return true;
            bool registered = IndexOfRegistration(nexus) >= 0;
            bool access = (_prHolder is { } h && h.Equals(nexus)) || ((AllRegistrants(_prType) || RegistrantsOnly(_prType)) && registered);
            if (access) return false;
            return Classify(op, cdb) switch
            {
                AccessClass.Always => false,
                AccessClass.Read => ExclusiveAccessType(_prType),
                _ => true,
            };
        }
    }

    // SPC-2 §7.21 RESERVE (6/10): the whole logical unit for one I_T nexus.
    private ScsiResult Reserve(in ScsiNexus nexus)
    {
        lock (_resGate)
        {
            if (_prType != 0 || _registrations.Count > 0) return Conflict();
            if (_legacyHolder is { } h && !h.Equals(nexus)) return Conflict();
            _legacyHolder = nexus;
            UpdateActive();
            return ScsiResult.Good(0, 0);
        }
    }

    // SPC-2 §7.17 RELEASE (6/10): a release from a nexus that does not hold the reservation is a no-op.
    private ScsiResult Release(in ScsiNexus nexus)
    {
        lock (_resGate)
        {
            if (_prType != 0) return Conflict();
            if (_legacyHolder is { } h && h.Equals(nexus)) _legacyHolder = null;
            UpdateActive();
            return ScsiResult.Good(0, 0);
        }
    }

    private void ClearLegacyReservation()
    {
        lock (_resGate)
        {
            _legacyHolder = null;
            UpdateActive();
        }
    }

    private void ReleaseLegacyIfHolder(in ScsiNexus nexus)
    {
        lock (_resGate)
        {
            if (_legacyHolder is { } h && h.Equals(nexus)) _legacyHolder = null;
            UpdateActive();
        }
    }

    // SPC-4 §6.13 PERSISTENT RESERVE IN
    private ScsiResult PersistentReserveIn(ReadOnlySpan<byte> cdb, Span<byte> dataIn)
    {
        int sa = cdb[1] & 0x1F;
        int alloc = Be16(cdb, 7);
        byte[] b;
        lock (_resGate)
        {
            switch (sa)
            {
                case 0: // READ KEYS
                    b = new byte[8 + 8 * _registrations.Count];
                    BinaryPrimitives.WriteUInt32BigEndian(b, _prGeneration);
                    BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), (uint)(8 * _registrations.Count));
                    for (int i = 0; i < _registrations.Count; i++)
                        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8 + 8 * i), _registrations[i].Key);
                    break;
                case 1: // READ RESERVATION
                    b = new byte[_prType != 0 ? 24 : 8];
                    BinaryPrimitives.WriteUInt32BigEndian(b, _prGeneration);
                    if (_prType != 0)
                    {
                        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), 16);
                        ulong key = AllRegistrants(_prType) ? 0 : KeyOf(_prHolder!.Value);
                        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8), key);
                        b[21] = _prType; // scope 0 (logical unit)
                    }
                    break;
                case 2: // REPORT CAPABILITIES
                    b = new byte[8];
                    b[1] = 8;
                    b[2] = 0x10; // CRH; SIP_C, ATP_C, PTPL_C 0
                    b[3] = 0x80; // TMV; ALLOW COMMANDS 000b; PTPL_A 0
                    b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
                    b[5] = 0x01; // EX_AC_AR
                    break;
                case 3: // READ FULL STATUS
                    b = ReadFullStatus();
                    break;
                default:
                    return InvalidField(1, 4);
            }
        }
        return DataIn(b, dataIn, alloc);
    }

    private ulong KeyOf(in ScsiNexus nexus)
    {
        int i = IndexOfRegistration(nexus);
        return i < 0 ? 0 : _registrations[i].Key;
    }

    private byte[] ReadFullStatus()
    {
        var ms = new List<byte>(64);
        foreach (var (nexus, key) in _registrations)
        {
            // SPC-4 §7.6.4.6 iSCSI initiator port TransportID (format 01b).
            var name = Encoding.UTF8.GetBytes(nexus.InitiatorPortName);
            int tidLen = (4 + name.Length + 1 + 3) & ~3;
            var d = new byte[24 + tidLen];
            BinaryPrimitives.WriteUInt64BigEndian(d, key);
            bool holder = _prType != 0 && (AllRegistrants(_prType) || (_prHolder is { } h && h.Equals(nexus)));
            d[12] = (byte)(holder ? 0x01 : 0);
            d[13] = holder ? _prType : (byte)0;
            BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(18), nexus.TargetPortalGroupTag != 0 ? nexus.TargetPortalGroupTag : _options.RelativeTargetPort);
            BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(20), (uint)tidLen);
            d[24] = 0x40 | 0x05;
            BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(26), (ushort)(tidLen - 4));
            name.CopyTo(d.AsSpan(28));
            ms.AddRange(d);
        }
        var b = new byte[8 + ms.Count];
        BinaryPrimitives.WriteUInt32BigEndian(b, _prGeneration);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), (uint)ms.Count);
        ms.CopyTo(b, 8);
        return b;
    }

    // SPC-4 §6.14 PERSISTENT RESERVE OUT (§5.13.5–5.13.11 for what each service action does)
    private ScsiResult PersistentReserveOut(ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut, in ScsiNexus nexus)
    {
        int sa = cdb[1] & 0x1F;
        int scope = cdb[2] >> 4;
        byte type = (byte)(cdb[2] & 0x0F);
        uint listLength = Be32(cdb, 5);
        if (listLength != 24 || dataOut.Length < 24) return ParameterListLengthError();
        ulong key = BinaryPrimitives.ReadUInt64BigEndian(dataOut);
        ulong saKey = BinaryPrimitives.ReadUInt64BigEndian(dataOut[8..]);
        byte flags = dataOut[20];
        if ((flags & 0x08) != 0) return InvalidParameter(20, 3); // SPEC_I_PT unsupported
        if ((flags & 0x04) != 0) return InvalidParameter(20, 2); // ALL_TG_PT unsupported
        if ((flags & 0x01) != 0) return InvalidParameter(20, 0); // APTPL unsupported (PTPL_C 0)
        bool needsType = sa is 1 or 2 or 4 or 5;
        if (needsType)
        {
            if (scope != 0) return InvalidField(2, 7);
            if (type is not (WriteExclusive or ExclusiveAccess or WriteExclusiveRegistrantsOnly or ExclusiveAccessRegistrantsOnly
                or WriteExclusiveAllRegistrants or ExclusiveAccessAllRegistrants)) return InvalidField(2, 3);
        }

        lock (_resGate)
        {
            if (_legacyHolder is not null) return Conflict();
            int mine = IndexOfRegistration(nexus);
            ulong myKey = mine >= 0 ? _registrations[mine].Key : 0;
            if (sa is not (0 or 6) && (mine < 0 || myKey != key)) return Conflict();
            try
            {
                switch (sa)
                {
                    case 0: // REGISTER
                    case 6: // REGISTER AND IGNORE EXISTING KEY
                        if (sa == 0 && (mine < 0 ? key != 0 : myKey != key)) return Conflict();
                        if (mine < 0)
                        {
                            if (saKey != 0) { _registrations.Add((nexus, saKey)); _prGeneration++; }
                        }
                        else if (saKey != 0)
                        {
                            _registrations[mine] = (nexus, saKey);
                            _prGeneration++;
                        }
                        else
                        {
                            Unregister(mine);
                            _prGeneration++;
                        }
                        return ScsiResult.Good(0, 24);

                    case 1: // RESERVE
                        if (_prType != 0)
                        {
                            bool holds = AllRegistrants(_prType) || (_prHolder is { } h && h.Equals(nexus));
                            return holds && _prType == type ? ScsiResult.Good(0, 24) : Conflict();
                        }
                        _prType = type;
                        _prHolder = nexus;
                        return ScsiResult.Good(0, 24);

                    case 2: // RELEASE
                    {
                        if (_prType == 0) return ScsiResult.Good(0, 24);
                        bool holds = AllRegistrants(_prType) || (_prHolder is { } h && h.Equals(nexus));
                        if (!holds) return ScsiResult.Good(0, 24);
                        if (_prType != type) return Check(SenseKey.IllegalRequest, new Asc(0x26, 0x04)); // INVALID RELEASE OF PERSISTENT RESERVATION
                        byte old = _prType;
                        _prType = 0;
                        _prHolder = null;
                        if (RegistrantsOnly(old) || AllRegistrants(old)) NotifyRegistrants(Asc.ReservationsReleased, nexus);
                        return ScsiResult.Good(0, 24);
                    }

                    case 3: // CLEAR
                        NotifyRegistrants(Asc.ReservationsPreempted, nexus);
                        _registrations.Clear();
                        _prType = 0;
                        _prHolder = null;
                        _prGeneration++;
                        return ScsiResult.Good(0, 24);

                    case 4: // PREEMPT
                    case 5: // PREEMPT AND ABORT (tasks end with the transport; state as PREEMPT)
                        return Preempt(nexus, saKey, type);

                    default:
                        return InvalidField(1, 4);
                }
            }
            finally
            {
                UpdateActive();
            }
        }
    }

    private void Unregister(int index)
    {
        var nexus = _registrations[index].Nexus;
        _registrations.RemoveAt(index);
        if (_prType == 0) return;
        if (AllRegistrants(_prType))
        {
            // The reservation lives while any registrant remains (SPC-4 §5.13.11.2.2).
            if (_registrations.Count == 0) { _prType = 0; _prHolder = null; }
            else if (_prHolder is { } h && h.Equals(nexus)) _prHolder = _registrations[0].Nexus;
        }
        else if (_prHolder is { } holder && holder.Equals(nexus))
        {
            byte old = _prType;
            _prType = 0;
            _prHolder = null;
            if (RegistrantsOnly(old)) NotifyRegistrants(Asc.ReservationsReleased, nexus);
        }
    }

    private ScsiResult Preempt(in ScsiNexus nexus, ulong saKey, byte type)
    {
        var me = nexus;
        if (_prType != 0 && AllRegistrants(_prType))
        {
            if (saKey == 0)
            {
                RemoveRegistrations(r => !r.Nexus.Equals(me));
                _prType = type;
                _prHolder = nexus;
            }
            else if (!RemoveRegistrations(r => r.Key == saKey && !r.Nexus.Equals(me))) return Conflict();
            _prGeneration++;
            return ScsiResult.Good(0, 24);
        }
        if (_prType != 0 && _prHolder is { } holder && KeyOf(holder) == saKey)
        {
            RemoveRegistrations(r => r.Key == saKey && !r.Nexus.Equals(me));
            _prType = type;
            _prHolder = nexus;
            _prGeneration++;
            return ScsiResult.Good(0, 24);
        }
        if (saKey == 0) return InvalidParameter(8);
        if (!RemoveRegistrations(r => r.Key == saKey && !r.Nexus.Equals(me))) return Conflict();
        _prGeneration++;
        return ScsiResult.Good(0, 24);
    }

    private bool RemoveRegistrations(Predicate<(ScsiNexus Nexus, ulong Key)> match)
    {
        bool any = false;
        for (int i = _registrations.Count - 1; i >= 0; i--)
        {
            if (!match(_registrations[i])) continue;
            UnitAttention(_registrations[i].Nexus, Asc.RegistrationsPreempted);
            _registrations.RemoveAt(i);
            any = true;
        }
        return any;
    }

    private void NotifyRegistrants(Asc asc, in ScsiNexus except)
    {
        foreach (var (n, _) in _registrations)
            if (!n.Equals(except)) UnitAttention(n, asc);
    }
}
