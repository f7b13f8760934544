/* SPDX-License-Identifier: GPL-2.0 */
/* Headers the daxfs abstractions bind to (bindgen input, see Kbuild). */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/blkdev.h>
#include <linux/dax.h>
#include <linux/iomap.h>
#include <linux/statfs.h>
#include <linux/seq_file.h>
#include <linux/libnvdimm.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fileattr.h>
#include <linux/mm.h>
#include <linux/huge_mm.h>
#include <linux/uio.h>
#include <linux/writeback.h>
#include "helpers.h"
